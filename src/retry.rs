//! When to try a failed delivery again: retry policies that return a decision and never sleep.
//!
//! A [`RetryPolicy`] looks at how many attempts were made, when the first one started, the last
//! [`Outcome`] and `now`, and answers [`RetryDecision::RetryAt`] or [`RetryDecision::GiveUp`].
//! It never reads the clock and never sleeps; randomness for jitter comes in as a number, so a
//! schedule is reproducible in tests and simulations.
//!
//! [`RetrySchedule`] is the ready-made, serializable policy, with the platforms' presets:
//!
//! | preset | attempts | delays after each failure |
//! |---|---|---|
//! | [`RetrySchedule::learnybox`] | 5 | 60 s, 5 min, 10 min, 1 h, then failed |
//! | [`RetrySchedule::learnworlds`] | 21 | 1 min doubling: 1, 2, 4 ... 2^19 min (the last is ~364 days; see [`RetrySchedule::learnworlds_capped`]) |
//! | [`RetrySchedule::standard_webhooks`] | 8 | 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Svix; the first attempt is immediate) |
//!
//! ```
//! use std::time::Duration;
//! use lms_webhooks::retry::RetrySchedule;
//!
//! let s = RetrySchedule::learnybox();
//! assert_eq!(s.attempt_limit(), Some(5));
//! assert_eq!(s.delay_after(1), Some(Duration::from_secs(60)));
//! assert_eq!(s.delay_after(4), Some(Duration::from_secs(3600)));
//! assert_eq!(s.delay_after(5), None); // the fifth failure is final
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::Timestamp;

/// Everything a policy may look at to decide.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RetryContext<'a> {
    /// Attempts made so far, the failed one included (1 after the first failure).
    pub attempts: u32,
    /// When the first attempt started.
    pub first_attempt_at: Timestamp,
    /// Now: when the failed attempt ended.
    pub now: Timestamp,
    /// What the failed attempt got.
    pub outcome: &'a Outcome,
    /// 64 random bits for jitter, supplied by the caller so that runs are reproducible.
    pub random: u64,
}

impl<'a> RetryContext<'a> {
    /// A context.
    pub fn new(
        now: Timestamp,
        attempts: u32,
        first_attempt_at: Timestamp,
        outcome: &'a Outcome,
        random: u64,
    ) -> RetryContext<'a> {
        RetryContext {
            attempts,
            first_attempt_at,
            now,
            outcome,
            random,
        }
    }
}

/// The decision after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryDecision {
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Stop: the delivery has failed for good.
    GiveUp,
}

/// Decides whether and when to retry. Open: implement it for custom rules; it must not sleep
/// or read the clock.
pub trait RetryPolicy {
    /// The decision after the failed attempt described by `ctx`.
    fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision;
}

/// Random variation added to each delay, so that endpoints that failed together do not get
/// their retries all at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Jitter {
    /// The delays exactly as scheduled.
    #[default]
    None,
    /// Anywhere between zero and the scheduled delay ("full jitter").
    Full,
    /// The scheduled delay plus or minus up to `percent` % of it.
    Proportional {
        /// 0 to 100.
        percent: u8,
    },
}

impl Jitter {
    /// Applies the jitter to `delay` with 64 random bits.
    pub fn apply(self, delay: Duration, random: u64) -> Duration {
        // 53 random bits make a uniform number in [0, 1).
        let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
        match self {
            Jitter::None => delay,
            Jitter::Full => delay.mul_f64(unit),
            Jitter::Proportional { percent } => {
                let p = f64::from(percent.min(100)) / 100.0;
                delay.mul_f64((1.0 + p * (2.0 * unit - 1.0)).max(0.0))
            }
        }
    }
}

/// A serializable retry schedule: a fixed list of delays, or exponential growth.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lms_webhooks::retry::{Jitter, RetrySchedule};
///
/// // 30 s doubling, at most 1 h apart, 10 attempts in all, ±10 % so retries spread out.
/// let s = RetrySchedule::exponential(Duration::from_secs(30), 2)
///     .with_max_delay(Duration::from_secs(3600))
///     .with_max_attempts(10)
///     .with_jitter(Jitter::Proportional { percent: 10 });
/// assert_eq!(s.delay_after(1), Some(Duration::from_secs(30)));
/// assert_eq!(s.delay_after(8), Some(Duration::from_secs(3600)));
/// assert_eq!(s.delay_after(10), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySchedule {
    kind: Kind,
    #[serde(default)]
    jitter: Jitter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Kind {
    Fixed {
        delays_ms: Vec<u64>,
    },
    Exponential {
        initial_ms: u64,
        factor: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_delay_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_attempts: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age_ms: Option<u64>,
    },
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RetrySchedule {
    /// Learnybox: retries after 60 s, 5 min, 10 min and 1 h; the fifth failure is final.
    pub fn learnybox() -> RetrySchedule {
        RetrySchedule::fixed([60, 300, 600, 3600].map(Duration::from_secs))
    }

    /// LearnWorlds: 20 retries, the delay doubling from 1 minute (1, 2, 4 ... 524 288 min).
    ///
    /// Faithful to the platform, so the last retry comes about 364 days after the one before;
    /// [`RetrySchedule::learnworlds_capped`] bounds the delay.
    pub fn learnworlds() -> RetrySchedule {
        RetrySchedule::exponential(Duration::from_secs(60), 2).with_max_attempts(21)
    }

    /// LearnWorlds' schedule with no delay longer than `cap`.
    pub fn learnworlds_capped(cap: Duration) -> RetrySchedule {
        RetrySchedule::learnworlds().with_max_delay(cap)
    }

    /// Standard Webhooks / Svix: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub fn standard_webhooks() -> RetrySchedule {
        RetrySchedule::fixed([5, 300, 1800, 7200, 18_000, 36_000, 36_000].map(Duration::from_secs))
    }

    /// One attempt, no retry.
    pub fn none() -> RetrySchedule {
        RetrySchedule::fixed([])
    }

    /// Retries after each of `delays` in turn: `delays.len() + 1` attempts in all.
    pub fn fixed(delays: impl IntoIterator<Item = Duration>) -> RetrySchedule {
        RetrySchedule {
            kind: Kind::Fixed {
                delays_ms: delays.into_iter().map(ms).collect(),
            },
            jitter: Jitter::None,
        }
    }

    /// `initial`, then each delay `factor` times the one before, without end until bounded by
    /// [`with_max_attempts`](RetrySchedule::with_max_attempts) or [`with_max_age`](RetrySchedule::with_max_age).
    pub fn exponential(initial: Duration, factor: u32) -> RetrySchedule {
        RetrySchedule {
            kind: Kind::Exponential {
                initial_ms: ms(initial),
                factor,
                max_delay_ms: None,
                max_attempts: None,
                max_age_ms: None,
            },
            jitter: Jitter::None,
        }
    }

    /// Caps every delay (exponential schedules; fixed ones are capped delay by delay).
    #[must_use]
    pub fn with_max_delay(mut self, cap: Duration) -> RetrySchedule {
        match &mut self.kind {
            Kind::Fixed { delays_ms } => delays_ms.iter_mut().for_each(|d| *d = (*d).min(ms(cap))),
            Kind::Exponential { max_delay_ms, .. } => *max_delay_ms = Some(ms(cap)),
        }
        self
    }

    /// Limits the total number of attempts (exponential schedules).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> RetrySchedule {
        if let Kind::Exponential { max_attempts, .. } = &mut self.kind {
            *max_attempts = Some(attempts.max(1));
        }
        self
    }

    /// Gives up when the next attempt would start more than `age` after the first one
    /// (exponential schedules).
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> RetrySchedule {
        if let Kind::Exponential { max_age_ms, .. } = &mut self.kind {
            *max_age_ms = Some(ms(age));
        }
        self
    }

    /// Sets the jitter.
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> RetrySchedule {
        self.jitter = jitter;
        self
    }

    /// Divides every delay by `factor` (at least 1): a one-hour schedule runs in seconds, for
    /// demos and tests.
    #[must_use]
    pub fn with_speed_up(mut self, factor: u32) -> RetrySchedule {
        let f = u64::from(factor.max(1));
        match &mut self.kind {
            Kind::Fixed { delays_ms } => delays_ms.iter_mut().for_each(|d| *d /= f),
            Kind::Exponential {
                initial_ms,
                max_delay_ms,
                max_age_ms,
                ..
            } => {
                *initial_ms /= f;
                *max_delay_ms = max_delay_ms.map(|d| d / f);
                *max_age_ms = max_age_ms.map(|d| d / f);
            }
        }
        self
    }

    /// The most attempts this schedule allows, or `None` for no limit by count.
    pub fn attempt_limit(&self) -> Option<u32> {
        match &self.kind {
            Kind::Fixed { delays_ms } => Some(
                u32::try_from(delays_ms.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1),
            ),
            Kind::Exponential { max_attempts, .. } => *max_attempts,
        }
    }

    /// The scheduled delay after the `failures`-th failed attempt (from 1), before jitter and
    /// without the age limit; `None` once no retry remains.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        if failures == 0 {
            return Some(Duration::ZERO);
        }
        match &self.kind {
            Kind::Fixed { delays_ms } => delays_ms
                .get(usize::try_from(failures - 1).ok()?)
                .map(|&d| Duration::from_millis(d)),
            Kind::Exponential {
                initial_ms,
                factor,
                max_delay_ms,
                max_attempts,
                ..
            } => {
                if max_attempts.is_some_and(|max| failures >= max) {
                    return None;
                }
                let growth = u64::from(*factor)
                    .checked_pow(failures - 1)
                    .unwrap_or(u64::MAX);
                let delay = initial_ms.saturating_mul(growth);
                Some(Duration::from_millis(
                    max_delay_ms.map_or(delay, |cap| delay.min(cap)),
                ))
            }
        }
    }

    /// The delays of the whole schedule, attempt by attempt (without jitter), when it is
    /// bounded by count.
    pub fn delays(&self) -> Vec<Duration> {
        let Some(max) = self.attempt_limit() else {
            return Vec::new();
        };
        (1..max).filter_map(|n| self.delay_after(n)).collect()
    }
}

impl RetryPolicy for RetrySchedule {
    fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision {
        let Some(delay) = self.delay_after(ctx.attempts) else {
            return RetryDecision::GiveUp;
        };
        let delay = self.jitter.apply(delay, ctx.random);
        let Some(at) = ctx.now.checked_add(delay) else {
            return RetryDecision::GiveUp;
        };
        if let Kind::Exponential {
            max_age_ms: Some(age),
            ..
        } = &self.kind
        {
            let limit = ctx
                .first_attempt_at
                .saturating_add(Duration::from_millis(*age));
            if at > limit {
                return RetryDecision::GiveUp;
            }
        }
        RetryDecision::RetryAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds() {
        let d = Duration::from_secs(100);
        for r in [0, 1, u64::MAX / 3, u64::MAX / 2, u64::MAX] {
            assert_eq!(Jitter::None.apply(d, r), d);
            assert!(Jitter::Full.apply(d, r) <= d);
            let p = Jitter::Proportional { percent: 20 }.apply(d, r);
            assert!(
                p >= Duration::from_secs(80) && p <= Duration::from_secs(120),
                "{p:?}"
            );
        }
        assert_eq!(Jitter::Full.apply(d, 0), Duration::ZERO);
        assert_eq!(
            Jitter::Proportional { percent: 20 }.apply(d, 0),
            Duration::from_secs(80)
        );
    }
}
