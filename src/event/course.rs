//! Payloads of the `course.*` events: enrollments, progress, quizzes, evaluations, certificates.

use super::common::{Course, NamedRef, Person, Product};
use crate::{BuildError, Timestamp};

payload! {
    /// A learner's access to a course began, ended or was first used:
    /// `course.member.added`, `course.member.enrolled_free`, `course.member.removed`,
    /// `course.member.started`.
    pub struct Enrollment / EnrollmentBuilder {
        required {
            /// The learner.
            member: Person,
            /// The course.
            course: Course,
        }
        optional {
            /// How access was granted or revoked: `purchase`, `admin`, `free`, `subscription`, `api`.
            source: String,
            /// The product that granted (or no longer grants) access.
            product: Product,
            /// When access expires.
            expires_at: Timestamp,
            /// Why access was removed (`course.member.removed`).
            reason: String,
        }
        lists {}
    }
}

fn percent_in_range(c: &Completion) -> Result<(), BuildError> {
    match c.progress_percent {
        Some(p) if p > 100 => Err(BuildError::InvalidValue {
            payload: "Completion",
            field: "progress_percent",
            reason: format!("{p} is over 100"),
        }),
        _ => Ok(()),
    }
}

payload! {
    /// A learner completed a course: `course.member.completed`.
    pub struct Completion / CompletionBuilder {
        required {
            /// The learner.
            member: Person,
            /// The course.
            course: Course,
        }
        optional {
            /// Progress in percent, 0 to 100 (100 for a completion).
            progress_percent: u8,
            /// Time spent in the course, in seconds.
            time_spent_seconds: u32,
            /// The final grade or score, as the platform reports it.
            grade: String,
        }
        lists {}
        check percent_in_range;
    }
}

payload! {
    /// A learner completed a learning program (a path of courses): `course.program.completed`.
    pub struct ProgramCompletion / ProgramCompletionBuilder {
        required {
            /// The learner.
            member: Person,
            /// The program.
            program: NamedRef,
        }
        optional {}
        lists {
            /// The courses the program holds.
            courses: Course,
        }
    }
}

fn score_within_max(q: &QuizResult) -> Result<(), BuildError> {
    match (q.max_score, q.pass_mark) {
        (Some(max), _) if q.score > max => Err(BuildError::InvalidValue {
            payload: "QuizResult",
            field: "score",
            reason: format!("{} is over max_score {max}", q.score),
        }),
        (Some(max), Some(mark)) if mark > max => Err(BuildError::InvalidValue {
            payload: "QuizResult",
            field: "pass_mark",
            reason: format!("{mark} is over max_score {max}"),
        }),
        _ => Ok(()),
    }
}

payload! {
    /// A quiz attempt finished: `course.quiz.completed`, `course.quiz.passed`, `course.quiz.failed`.
    ///
    /// Scores are whole points (`score` out of `max_score`, passed at `pass_mark`); a platform
    /// that scores in percent sets `max_score` to 100.
    pub struct QuizResult / QuizResultBuilder {
        required {
            /// The learner.
            member: Person,
            /// The quiz.
            quiz: NamedRef,
            /// Points scored.
            score: u32,
        }
        optional {
            /// The course the quiz belongs to.
            course: Course,
            /// The most points one can score.
            max_score: u32,
            /// The points needed to pass.
            pass_mark: u32,
            /// Whether the attempt passed.
            passed: bool,
            /// Which attempt this was, counting from 1.
            attempt: u32,
            /// Time spent on the attempt, in seconds.
            duration_seconds: u32,
        }
        lists {}
        check score_within_max;
    }
}

payload! {
    /// An evaluation (assignment, exam, peer review) was completed: `course.evaluation.completed`.
    pub struct EvaluationResult / EvaluationResultBuilder {
        required {
            /// The learner.
            member: Person,
            /// The evaluation.
            evaluation: NamedRef,
        }
        optional {
            /// The course it belongs to.
            course: Course,
            /// Points scored.
            score: u32,
            /// The most points one can score.
            max_score: u32,
            /// A grade as the platform writes it (`A`, `pass`...).
            grade: String,
            /// Who graded it, if a person did.
            reviewer: Person,
        }
        lists {}
    }
}

payload! {
    /// A certificate was awarded: `course.certificate.awarded`.
    pub struct Certificate / CertificateBuilder {
        required {
            /// The platform's certificate id.
            id: String,
            /// The learner.
            member: Person,
        }
        optional {
            /// The course it certifies.
            course: Course,
            /// Where the certificate can be viewed or downloaded.
            url: String,
            /// A public verification code.
            credential_id: String,
            /// When it expires, if it does.
            expires_at: Timestamp,
        }
        lists {}
    }
}

payload! {
    /// A free section of a paid course was previewed: `course.section.previewed`.
    pub struct SectionPreview / SectionPreviewBuilder {
        required {
            /// The (paid) course.
            course: Course,
        }
        optional {
            /// The free section, when the platform names it (LearnWorlds does not).
            section: NamedRef,
            /// The visitor, when known.
            visitor: Person,
        }
        lists {}
    }
}
