//! [`EndpointStatus`]: where an endpoint stands. Its own module, below both the deliveries
//! (whose targets carry it) and the endpoints (which set it), so that neither depends on the
//! other for it.

use serde::{Deserialize, Serialize};

/// Where an endpoint stands. See the [`endpoint`](crate::endpoint) module docs for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndpointStatus {
    /// Receives events.
    Active,
    /// Paused by an admin: events are held, not dropped.
    Paused,
    /// Turned off (by an admin, or by a 410 Gone answer): events are skipped.
    Disabled,
    /// Set after repeated delivery failures: events are held until reactivation.
    Failed,
}
