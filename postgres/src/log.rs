//! The delivery log: every attempt, by tenant, event or endpoint. It holds no secret: reading
//! it needs no master key.

use lms_webhooks::Timestamp;
use sqlx::{PgPool, Row};
use time::OffsetDateTime;

use crate::StoreError;

/// One attempt of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LogEntry {
    /// The event id.
    pub event: String,
    /// The endpoint id.
    pub endpoint: String,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// The response status, if there was a response.
    pub status: Option<i32>,
    /// What went wrong without a response (timeout, refused address, …).
    pub error: Option<String>,
    /// `delivered`, `retry` or `gave_up`.
    pub result: String,
    /// When the attempt started.
    pub at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The start of the response body.
    pub excerpt: String,
}

/// The delivery log of `tenant`, newest first, optionally for one event or one endpoint;
/// `limit` rows from `offset`. It holds no secret: no master key is needed to read it.
pub async fn log_page(
    pool: &PgPool,
    tenant: &str,
    event: Option<&str>,
    endpoint: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, endpoint_id, number, status, error, result, started_at,
                duration_ms, excerpt
         FROM lmsw_attempts
         WHERE tenant = $1
           AND ($2::text IS NULL OR delivery_id IN
             (SELECT id FROM lmsw_deliveries WHERE tenant = $1 AND event_id = $2))
           AND ($3::text IS NULL OR endpoint_id = $3)
         ORDER BY started_at DESC, number DESC LIMIT $4 OFFSET $5",
    )
    .bind(tenant)
    .bind(event)
    .bind(endpoint)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let at: OffsetDateTime = row.try_get("started_at")?;
            Ok(LogEntry {
                event: row.try_get("event_id")?,
                endpoint: row.try_get("endpoint_id")?,
                attempt: row.try_get("number")?,
                status: row.try_get("status")?,
                error: row.try_get("error")?,
                result: row.try_get("result")?,
                at: Timestamp::try_from(at)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                duration_ms: row.try_get("duration_ms")?,
                excerpt: row.try_get("excerpt")?,
            })
        })
        .collect()
}
