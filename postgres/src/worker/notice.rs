//! What a worker tells its host, and what it counts.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// What the host is told as it happens (after the transaction that made it so committed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The first delivery of a run gave up after failures; the endpoint is still active (it
    /// becomes `Failed` if this goes on).
    EndpointFailing {
        /// The tenant.
        tenant: String,
        /// The endpoint.
        endpoint: String,
    },
    /// An endpoint became `Failed` (repeated failures): its deliveries are held.
    EndpointFailed {
        /// The tenant.
        tenant: String,
        /// The endpoint.
        endpoint: String,
    },
    /// An endpoint was disabled by a 410 Gone answer.
    EndpointDisabled {
        /// The tenant.
        tenant: String,
        /// The endpoint.
        endpoint: String,
    },
    /// An endpoint whose deliveries had given up (one or more in a row) delivered again.
    EndpointRecovered {
        /// The tenant.
        tenant: String,
        /// The endpoint.
        endpoint: String,
        /// How many deliveries in a row had given up before this one was delivered.
        after_failures: u32,
    },
    /// A delivery could not be attempted (its row cannot be read, its endpoint cannot be
    /// unsealed): it is parked with the reason, and the worker goes on. `Outbox::resend`
    /// takes it up again once the cause is fixed.
    DeliveryParked {
        /// The tenant.
        tenant: String,
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// A delivery gave up for good.
    DeliveryGaveUp {
        /// The tenant.
        tenant: String,
        /// The event id.
        event: String,
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: lms_webhooks::delivery::GiveUpReason,
    },
}

/// The host's callback for [`Notice`]s: keep it quick (it runs on the worker's task).
pub type Hook = Arc<dyn Fn(Notice) + Send + Sync>;

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Attempts made.
    pub attempts: u64,
    /// Deliveries delivered.
    pub delivered: u64,
    /// Deliveries that gave up.
    pub gave_up: u64,
    /// Deliveries found held (paused or failed endpoints).
    pub held: u64,
    /// Outcomes not written because the claim had lost its lease to another claim meanwhile
    /// (this worker stalled past it): the other claim's outcome stands.
    pub lost_leases: u64,
    /// Deliveries parked because they could not be attempted (see [`Notice::DeliveryParked`]).
    pub parked: u64,
    /// Claims made (each one round trip), whatever they leased.
    pub claims: u64,
    /// Deliveries the claims leased.
    pub claimed: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) attempts: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) gave_up: AtomicU64,
    pub(super) held: AtomicU64,
    pub(super) lost_leases: AtomicU64,
    pub(super) parked: AtomicU64,
    pub(super) claims: AtomicU64,
    pub(super) claimed: AtomicU64,
}
