//! How values are written in the tables: times, states, statuses, and the channel workers
//! are woken on. Shared by every module that reads or writes rows.

use lms_webhooks::delivery::State;
use lms_webhooks::{EndpointStatus, Timestamp};
use time::OffsetDateTime;

/// The `NOTIFY` channel workers listen on.
pub(crate) const CHANNEL: &str = "lmsw_deliveries";

/// A time as the `timestamptz` columns take it.
pub(crate) fn odt(t: Timestamp) -> OffsetDateTime {
    t.as_offset_date_time()
}

/// The state column for a delivery.
pub(crate) fn state_name(state: State) -> &'static str {
    match state {
        State::Done => "done",
        State::GaveUp { .. } => "gave_up",
        _ => "pending",
    }
}

/// The status column for an endpoint.
pub(crate) fn status_name(status: EndpointStatus) -> &'static str {
    match status {
        EndpointStatus::Active => "active",
        EndpointStatus::Paused => "paused",
        EndpointStatus::Disabled => "disabled",
        EndpointStatus::Failed => "failed",
        _ => "unknown",
    }
}
