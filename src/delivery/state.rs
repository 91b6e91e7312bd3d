//! Where a delivery stands ([`State`]), what to do after an attempt ([`Next`]), and the two
//! halves of the delivery log: [`Attempt`]s and the [`Operation`]s people and endpoints made.

use serde::{Deserialize, Serialize};

use super::Outcome;
use crate::Timestamp;

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "next", content = "at", rename_all = "snake_case")]
#[must_use]
pub enum Next {
    /// Delivered.
    Done,
    /// Try again at this time: persist the delivery and schedule it.
    RetryAt(Timestamp),
    /// Failed for good; the delivery log says why.
    GaveUp(GiveUpReason),
}

/// Why a delivery gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The retry schedule ran out. Counts toward the endpoint's automatic `Failed` status.
    Exhausted,
    /// The endpoint answered 410 Gone: it asks not to be called again; disable it.
    Gone,
    /// The endpoint was disabled while the delivery waited.
    EndpointDisabled,
    /// The endpoint was deleted while the delivery waited.
    EndpointDeleted,
    /// Someone canceled the delivery (see its operations log for who and why).
    Canceled,
}

impl GiveUpReason {
    /// Whether the endpoint should be disabled right away (410 Gone).
    pub fn disables_endpoint(self) -> bool {
        matches!(self, GiveUpReason::Gone)
    }

    /// Whether the attempts themselves failed (the schedule ran out or the endpoint answered
    /// 410), as opposed to an end decided by an operator or the endpoint's status.
    pub fn is_failure(self) -> bool {
        matches!(self, GiveUpReason::Exhausted | GiveUpReason::Gone)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// Waiting for its next attempt, due at `due`.
    Pending {
        /// When the next attempt is due.
        due: Timestamp,
    },
    /// A request was built and its outcome not yet recorded.
    InFlight {
        /// The attempt's number.
        attempt: u32,
        /// When it started.
        started_at: Timestamp,
    },
    /// Delivered.
    Done,
    /// Failed for good.
    GaveUp {
        /// Why.
        reason: GiveUpReason,
        /// When.
        at: Timestamp,
    },
}

impl State {
    /// Whether the delivery is over (done or given up).
    pub fn is_finished(self) -> bool {
        matches!(self, State::Done | State::GaveUp { .. })
    }
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When the request was built.
    pub started_at: Timestamp,
    /// How long until the outcome was recorded, in milliseconds.
    pub duration_ms: u64,
    /// What happened.
    pub outcome: Outcome,
    /// What was decided.
    pub next: Next,
}

/// What an [`Operation`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Sent again now, by hand ([`Delivery::resend`](super::Delivery::resend)).
    Resend,
    /// Sent again as part of a recovery of the endpoint's failed deliveries
    /// ([`Delivery::recover`](super::Delivery::recover), [`recover`](super::recover)).
    Recover,
    /// Canceled by hand ([`Delivery::cancel`](super::Delivery::cancel)).
    Cancel,
    /// Ended because its endpoint is disabled.
    EndpointDisabled,
    /// Ended because its endpoint no longer exists.
    EndpointDeleted,
}

/// An entry of the operations log: who did what to the delivery, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Operation {
    /// When.
    pub at: Timestamp,
    /// What.
    pub action: Action,
    /// Who: an admin's name, a job's name, `endpoint` for status-driven ends.
    pub by: String,
    /// Why, in the words of whoever did it.
    pub reason: String,
}

/// A delivery's state without its logs ([`Delivery::parts`](super::Delivery::parts),
/// [`Delivery::from_parts`](super::Delivery::from_parts)): what a store keeps in columns
/// when it keeps the attempts in a log of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryParts {
    /// The event id.
    pub event_id: std::sync::Arc<str>,
    /// The endpoint id.
    pub endpoint_id: std::sync::Arc<str>,
    /// The body (in the endpoint's layout, before encryption).
    pub body: bytes::Bytes,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its state.
    pub state: State,
    /// Attempts made.
    pub attempt_count: u32,
    /// Attempts made before the last resend or recovery.
    pub round_start: u32,
    /// When the current round's first attempt started (none before it).
    pub round_first_at: Option<Timestamp>,
    /// The jitter's seed.
    pub seed: u64,
}

impl DeliveryParts {
    /// Parts: a store reads them back from its columns.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        event_id: impl Into<std::sync::Arc<str>>,
        endpoint_id: impl Into<std::sync::Arc<str>>,
        body: impl Into<bytes::Bytes>,
        created_at: Timestamp,
        state: State,
        attempt_count: u32,
        round_start: u32,
        round_first_at: Option<Timestamp>,
        seed: u64,
    ) -> DeliveryParts {
        DeliveryParts {
            event_id: event_id.into(),
            endpoint_id: endpoint_id.into(),
            body: body.into(),
            created_at,
            state,
            attempt_count,
            round_start,
            round_first_at,
            seed,
        }
    }
}
