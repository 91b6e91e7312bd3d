//! What the outbox counts, through the `metrics` facade (the host installs the recorder and
//! exporter it likes; without one, nothing is recorded and nothing costs). The names follow
//! Prometheus conventions and are listed, with their labels, in the README.

use std::time::Duration;

use lms_webhooks::delivery::Next;
use sqlx::{PgPool, Row};

/// Events published (`publish` calls that wrote a new event).
pub const EVENTS_PUBLISHED: &str = "lmsw_events_published_total";
/// Deliveries queued by publishes (held ones included).
pub const DELIVERIES_PUBLISHED: &str = "lmsw_deliveries_published_total";
/// Attempts made, by `outcome`: `delivered`, `retry`, `gave_up`, `lease_lost`.
pub const ATTEMPTS: &str = "lmsw_attempts_total";
/// How long attempts took, from the request going out to its outcome.
pub const ATTEMPT_DURATION: &str = "lmsw_attempt_duration_seconds";
/// From a delivery's creation (its publish) to its successful attempt.
pub const PUBLISH_TO_DELIVERED: &str = "lmsw_publish_to_delivered_seconds";
/// Deliveries put back because their endpoint's rate limit had no token.
pub const RATE_LIMITED: &str = "lmsw_rate_limited_total";
/// Deliveries held at attempt time (their endpoint paused or failed).
pub const HELD: &str = "lmsw_held_total";
/// Deliveries parked (could not be attempted).
pub const PARKED: &str = "lmsw_parked_total";
/// Deliveries in the queue, by `state`: `pending` (due or not, leased included), `leased`,
/// `held` (sampled).
pub const QUEUE_DEPTH: &str = "lmsw_queue_deliveries";
/// How long the oldest due delivery has waited (sampled): the backlog, in seconds.
pub const OLDEST_DUE: &str = "lmsw_queue_oldest_due_seconds";
/// Endpoints by `status`: `active`, `paused`, `failed`, `disabled` (sampled).
pub const ENDPOINTS: &str = "lmsw_endpoints";

/// What an attempt came to, as the `outcome` label and the logs name it: `None` when its
/// lease was lost (nothing was written).
pub(crate) fn outcome_name(next: Option<Next>) -> &'static str {
    match next {
        Some(Next::Done) => "delivered",
        Some(Next::RetryAt(_)) => "retry",
        Some(Next::GaveUp(_)) => "gave_up",
        None => "lease_lost",
    }
}

/// One attempt counted and timed.
pub(crate) fn attempt(next: Option<Next>, took: Duration, since_created: Option<Duration>) {
    metrics::counter!(ATTEMPTS, "outcome" => outcome_name(next)).increment(1);
    metrics::histogram!(ATTEMPT_DURATION).record(took.as_secs_f64());
    if let (Some(Next::Done), Some(waited)) = (next, since_created) {
        metrics::histogram!(PUBLISH_TO_DELIVERED).record(waited.as_secs_f64());
    }
}

/// Samples the queue and the endpoints into the gauges.
pub(crate) async fn sample(pool: &PgPool) -> Result<(), sqlx::Error> {
    let (stats, oldest) = crate::outbox::queue_stats(pool).await?;
    for (state, n) in [
        ("pending", stats.pending),
        ("leased", stats.leased),
        ("held", stats.held),
    ] {
        metrics::gauge!(QUEUE_DEPTH, "state" => state).set(n as f64);
    }
    metrics::gauge!(OLDEST_DUE).set(oldest);
    let counts = sqlx::query("SELECT status, count(*) AS n FROM lmsw_endpoints GROUP BY status")
        .fetch_all(pool)
        .await?;
    for status in ["active", "paused", "failed", "disabled"] {
        let n: i64 = counts
            .iter()
            .find(|r| r.try_get::<String, _>("status").is_ok_and(|s| s == status))
            .map_or(Ok(0), |r| r.try_get("n"))?;
        metrics::gauge!(ENDPOINTS, "status" => status).set(n as f64);
    }
    Ok(())
}
