//! An endpoint's health, and what one attempt changes in it.
//!
//! Every runner (the in-memory [`Registry`](super::Registry), the transport driver, the
//! PostgreSQL worker, the test ping) turns a finished attempt into a [`HealthChange`] with
//! [`HealthChange::of`] and applies it with [`Health::apply`] (a database store applies it to
//! the columns it read under the row's lock), so that they all agree:
//!
//! | the attempt | consecutive failures | failing since | status |
//! |---|---|---|---|
//! | delivered | 0 | none | unchanged (notice: recovered, if failures were counted) |
//! | failed, will retry | unchanged | now, if not failing yet | `Failed` if active and failing for longer than the failing period |
//! | gave up after failures | + 1 | now, if not failing yet | `Failed` if active and the failures reach the threshold, or failing too long |
//! | 410 Gone | unchanged | unchanged | `Disabled` |
//! | test ping delivered | 0 if it was `Failed` | none if it was `Failed` | `Active` if it was `Failed` |
//! | anything else (canceled, ended by the endpoint's status, a failed test ping) | unchanged | unchanged | unchanged |
//!
//! Every change also moves "Last Triggered" to the attempt's start, if later.

use std::time::Duration;

use super::EndpointStatus;
use crate::delivery::{GiveUpReason, Next};
use crate::Timestamp;

/// An endpoint's health: what its store may keep beside its settings, in plain columns,
/// and change with atomic updates (see [`Endpoint::set_health`](super::Endpoint::set_health)).
///
/// Every runner (the in-memory [`Registry`](super::Registry), the transport driver, the
/// PostgreSQL worker, the test ping) turns a finished attempt into a [`HealthChange`] with
/// [`HealthChange::of`] and applies it with [`Health::apply`] (a database store applies it to
/// the columns it read under the row's lock), so that they all agree:
///
/// | the attempt | consecutive failures | failing since | status |
/// |---|---|---|---|
/// | delivered | 0 | none | unchanged (notice: recovered, if failures were counted) |
/// | failed, will retry | unchanged | now, if not failing yet | `Failed` if active and failing for longer than the failing period |
/// | gave up after failures | + 1 | now, if not failing yet | `Failed` if active and the failures reach the threshold, or failing too long |
/// | 410 Gone | unchanged | unchanged | `Disabled` |
/// | test ping delivered | 0 if it was `Failed` | none if it was `Failed` | `Active` if it was `Failed` |
/// | anything else (canceled, ended by the endpoint's status, a failed test ping) | unchanged | unchanged | unchanged |
///
/// Every change also moves "Last Triggered" to the attempt's start, if later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Its status.
    pub status: EndpointStatus,
    /// Deliveries that gave up after failures, in a row.
    pub consecutive_failures: u32,
    /// Since when its attempts fail without a delivery between.
    pub failing_since: Option<Timestamp>,
    /// When its last attempt started ("Last Triggered").
    pub last_triggered_at: Option<Timestamp>,
}

impl Health {
    /// A healthy, never triggered endpoint with `status`.
    pub fn new(status: EndpointStatus) -> Health {
        Health {
            status,
            consecutive_failures: 0,
            failing_since: None,
            last_triggered_at: None,
        }
    }

    /// Applies `change` at `now` under the endpoint's failure rule (`threshold` deliveries in
    /// a row, or failing for longer than `period`), and says what an operator should hear of.
    pub fn apply(
        &mut self,
        now: Timestamp,
        change: HealthChange,
        threshold: u32,
        period: Duration,
    ) -> Option<HealthNotice> {
        let before = *self;
        if self
            .last_triggered_at
            .is_none_or(|last| last < change.triggered_at)
        {
            self.last_triggered_at = Some(change.triggered_at);
        }
        match change.effect {
            HealthEffect::Delivered => {
                self.consecutive_failures = 0;
                self.failing_since = None;
            }
            HealthEffect::Retrying | HealthEffect::GaveUp => {
                if change.effect == HealthEffect::GaveUp {
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                }
                let since = *self.failing_since.get_or_insert(now);
                let too_long = now.duration_since(since).is_some_and(|d| d > period);
                if self.status == EndpointStatus::Active
                    && (self.consecutive_failures >= threshold || too_long)
                {
                    self.status = EndpointStatus::Failed;
                }
            }
            HealthEffect::Gone => self.status = EndpointStatus::Disabled,
            HealthEffect::TestDelivered => {
                if self.status == EndpointStatus::Failed {
                    self.status = EndpointStatus::Active;
                    self.consecutive_failures = 0;
                    self.failing_since = None;
                }
            }
            HealthEffect::Triggered => {}
        }
        match (before.status, self.status) {
            (EndpointStatus::Disabled, _) | (_, EndpointStatus::Active) => {}
            (_, EndpointStatus::Disabled) => return Some(HealthNotice::Disabled),
            (EndpointStatus::Active, EndpointStatus::Failed) => return Some(HealthNotice::Failed),
            _ => {}
        }
        match change.effect {
            HealthEffect::Delivered if before.consecutive_failures > 0 => {
                Some(HealthNotice::Recovered {
                    after_failures: before.consecutive_failures,
                })
            }
            // The first delivery of a run gave up, and the endpoint is still active.
            HealthEffect::GaveUp
                if before.consecutive_failures == 0 && self.status == EndpointStatus::Active =>
            {
                Some(HealthNotice::Failing)
            }
            _ => None,
        }
    }
}

/// What one finished attempt changes in its endpoint's health, before it is applied: see
/// [`Health`] for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthChange {
    /// When the attempt started: "Last Triggered" moves to it.
    pub triggered_at: Timestamp,
    /// What it does to the failure count and the status.
    pub effect: HealthEffect,
}

/// The effect of a [`HealthChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HealthEffect {
    /// Delivered: no longer failing.
    Delivered,
    /// Failed, and will retry.
    Retrying,
    /// Gave up after failures: one more in a row.
    GaveUp,
    /// Answered 410 Gone: disabled.
    Gone,
    /// A test ping was delivered: a `Failed` endpoint is active again.
    TestDelivered,
    /// Only "Last Triggered" moves.
    Triggered,
}

impl HealthEffect {
    /// Its name in storage: `delivered`, `retrying`, `gave_up`, `gone`, `test_delivered`,
    /// `triggered`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthEffect::Delivered => "delivered",
            HealthEffect::Retrying => "retrying",
            HealthEffect::GaveUp => "gave_up",
            HealthEffect::Gone => "gone",
            HealthEffect::TestDelivered => "test_delivered",
            HealthEffect::Triggered => "triggered",
        }
    }
}

impl HealthChange {
    /// The change an attempt started at `triggered_at` makes, given what its delivery does
    /// next.
    pub fn of(triggered_at: Timestamp, next: Next) -> HealthChange {
        let effect = match next {
            Next::Done => HealthEffect::Delivered,
            Next::RetryAt(_) => HealthEffect::Retrying,
            Next::GaveUp(GiveUpReason::Gone) => HealthEffect::Gone,
            Next::GaveUp(reason) if reason.is_failure() => HealthEffect::GaveUp,
            // Canceled, or ended by the endpoint's own status: says nothing of its health.
            Next::GaveUp(_) => HealthEffect::Triggered,
        };
        HealthChange {
            triggered_at,
            effect,
        }
    }

    /// The change a test ping started at `triggered_at` makes: a delivered one reactivates a
    /// `Failed` endpoint; a failed one changes nothing but "Last Triggered".
    pub fn of_test(triggered_at: Timestamp, next: Next) -> HealthChange {
        HealthChange {
            triggered_at,
            effect: match next {
                Next::Done => HealthEffect::TestDelivered,
                _ => HealthEffect::Triggered,
            },
        }
    }
}

/// What an operator hears of after a [`HealthChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthNotice {
    /// The first delivery of a run gave up after failures, and the endpoint is still active
    /// (it turns `Failed` if this goes on).
    Failing,
    /// It became `Failed`: its deliveries are held.
    Failed,
    /// It was disabled by a 410 Gone answer.
    Disabled,
    /// It delivered after deliveries had given up.
    Recovered {
        /// How many deliveries in a row had given up.
        after_failures: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::GiveUpReason;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(secs).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3_600);

    #[test]
    fn failures_in_a_row_fail_it_and_a_delivery_recovers_it() {
        let mut h = Health::new(EndpointStatus::Active);
        let gave_up = |t| HealthChange::of(at(t), Next::GaveUp(GiveUpReason::Exhausted));
        assert_eq!(
            h.apply(at(10), gave_up(5), 2, HOUR),
            Some(HealthNotice::Failing)
        );
        assert_eq!(h.consecutive_failures, 1);
        assert_eq!(h.failing_since, Some(at(10)));
        assert_eq!(h.last_triggered_at, Some(at(5)));
        assert_eq!(
            h.apply(at(20), gave_up(15), 2, HOUR),
            Some(HealthNotice::Failed)
        );
        assert_eq!(h.status, EndpointStatus::Failed);
        // An older attempt finishing late does not move "Last Triggered" back.
        h.apply(at(21), HealthChange::of(at(1), Next::Done), 2, HOUR);
        assert_eq!(h.last_triggered_at, Some(at(15)));
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!(
            h.status,
            EndpointStatus::Failed,
            "only a test or an admin reactivates"
        );
        let ping = HealthChange::of_test(at(30), Next::Done);
        assert_eq!(h.apply(at(30), ping, 2, HOUR), None);
        assert_eq!(h.status, EndpointStatus::Active);
    }

    #[test]
    fn failing_is_heard_once_a_run_and_never_instead_of_failed() {
        let gave_up = |t| HealthChange::of(at(t), Next::GaveUp(GiveUpReason::Exhausted));
        let mut h = Health::new(EndpointStatus::Active);
        assert_eq!(
            h.apply(at(1), gave_up(1), 3, HOUR),
            Some(HealthNotice::Failing)
        );
        assert_eq!(h.apply(at(2), gave_up(2), 3, HOUR), None);
        let mut once = Health::new(EndpointStatus::Active);
        assert_eq!(
            once.apply(at(1), gave_up(1), 1, HOUR),
            Some(HealthNotice::Failed)
        );
        let mut paused = Health::new(EndpointStatus::Paused);
        assert_eq!(paused.apply(at(1), gave_up(1), 3, HOUR), None);
    }

    #[test]
    fn retries_fail_it_once_failing_for_longer_than_the_period() {
        let mut h = Health::new(EndpointStatus::Active);
        let retry = |t| HealthChange::of(at(t), Next::RetryAt(at(t + 60)));
        assert_eq!(h.apply(at(0), retry(0), 5, HOUR), None);
        assert_eq!(h.apply(at(3_600), retry(3_600), 5, HOUR), None);
        assert_eq!(
            h.apply(at(3_601), retry(3_601), 5, HOUR),
            Some(HealthNotice::Failed)
        );
        let mut h = Health::new(EndpointStatus::Active);
        h.consecutive_failures = 3;
        assert_eq!(
            h.apply(at(9), HealthChange::of(at(9), Next::Done), 5, HOUR),
            Some(HealthNotice::Recovered { after_failures: 3 })
        );
    }

    #[test]
    fn gone_disables_once_and_neutral_endings_change_nothing_else() {
        let mut h = Health::new(EndpointStatus::Active);
        let gone = HealthChange::of(at(1), Next::GaveUp(GiveUpReason::Gone));
        assert_eq!(h.apply(at(1), gone, 5, HOUR), Some(HealthNotice::Disabled));
        assert_eq!(h.apply(at(2), gone, 5, HOUR), None);
        let mut h = Health::new(EndpointStatus::Active);
        let canceled = HealthChange::of(at(3), Next::GaveUp(GiveUpReason::Canceled));
        assert_eq!(canceled.effect, HealthEffect::Triggered);
        assert_eq!(h.apply(at(3), canceled, 5, HOUR), None);
        assert_eq!(
            h,
            Health {
                last_triggered_at: Some(at(3)),
                ..Health::new(EndpointStatus::Active)
            }
        );
    }
}
