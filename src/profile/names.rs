//! Platform event names where they differ from the catalogue's (CATALOGUE.md).

use crate::EventType;

/// LearnWorlds' `type` and `trigger` for the catalogue types it sends (CATALOGUE.md).
pub(super) const LEARNWORLDS_NAMES: [(EventType, &str, &str); 18] = [
    (
        EventType::SalesSubscriptionUpdated,
        "subscriptionUpdated",
        "subsription_changed",
    ),
    (
        EventType::SalesSubscriptionCanceled,
        "subscriptionPaymentPlanCanceled",
        "subscription_cancelled",
    ),
    (
        EventType::SalesSubscriptionPaid,
        "subscriptionPaymentPlanBought",
        "subscription_started",
    ),
    (
        EventType::SalesSubscriptionTrialStarted,
        "subscriptionTrialStarted",
        "subscription_trial_started",
    ),
    (
        EventType::SalesSubscriptionTrialEnding,
        "subscriptionTrialWillEnd",
        "subscription_trial_will_end",
    ),
    (
        EventType::SalesPaymentCreated,
        "paymentCreated",
        "new_purchase",
    ),
    (
        EventType::SalesProductPurchased,
        "productBought",
        "new_purchase",
    ),
    // LearnWorlds sends one event for registration and update: it reads back as an update.
    (EventType::CrmUserUpdated, "userUpdated", "user_updated"),
    (EventType::CrmUserCreated, "userUpdated", "user_updated"),
    (
        EventType::CrmContactTagAdded,
        "userTagAdded",
        "user_tag_added",
    ),
    (
        EventType::CrmContactTagRemoved,
        "userTagDeleted",
        "user_tag_deleted",
    ),
    (EventType::CrmLeadCaptured, "leadCreated", "email_register"),
    (
        EventType::CourseMemberEnrolledFree,
        "enrolledFreeCourse",
        "enrolled_free",
    ),
    (
        EventType::CourseMemberRemoved,
        "userUnenrolledFromProduct",
        "unenrolled_from_product",
    ),
    (
        EventType::CourseMemberCompleted,
        "courseCompleted",
        "course_completed",
    ),
    (
        EventType::CourseProgramCompleted,
        "learningProgramCompleted",
        "learning_program_completed",
    ),
    (
        EventType::CourseCertificateAwarded,
        "awardedCertificate",
        "certificate_awarded",
    ),
    (
        EventType::CourseSectionPreviewed,
        "previewedFree",
        "free_section_previewed",
    ),
];

/// LearnInk's names where they differ from the catalogue's.
pub(super) const LEARNINK_NAMES: [(EventType, &str); 1] =
    [(EventType::CourseMemberStarted, "user.course.started")];

/// Names a LearnInk receiver also reads: LearnInk publishes `user.course.started` only (its
/// full catalogue is inside its dashboard); completions and certificates in the same
/// `user.<object>.<action>` pattern are read as the catalogue's types. Senders keep the
/// catalogue's names for them.
const LEARNINK_ALIASES: [(EventType, &str); 2] = [
    (EventType::CourseMemberCompleted, "user.course.completed"),
    (
        EventType::CourseCertificateAwarded,
        "user.certificate.awarded",
    ),
];

/// The catalogue type of a LearnInk `type` that differs from the catalogue's name.
pub(super) fn from_learnink_type(li_type: &str) -> Option<EventType> {
    LEARNINK_NAMES
        .iter()
        .chain(&LEARNINK_ALIASES)
        .find(|(_, name)| *name == li_type)
        .map(|&(t, _)| t)
}

/// LearnWorlds' `(type, trigger)` for a catalogue type, if LearnWorlds sends it.
pub fn learnworlds_names(t: EventType) -> Option<(&'static str, &'static str)> {
    LEARNWORLDS_NAMES
        .iter()
        .find(|(et, _, _)| *et == t)
        .map(|&(_, ty, trigger)| (ty, trigger))
}

/// The catalogue type of a LearnWorlds `type`.
pub fn from_learnworlds_type(lw_type: &str) -> Option<EventType> {
    LEARNWORLDS_NAMES
        .iter()
        .find(|(_, ty, _)| *ty == lw_type)
        .map(|&(et, _, _)| et)
}
