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
    /// Where this entry stands in the log: pass it to [`log_before`] for the entries after it
    /// (older ones).
    #[serde(skip)]
    pub cursor: String,
}

/// A position in the log: when the attempt started (microseconds), its delivery, its number.
fn parse_cursor(text: &str) -> Option<(i64, i64, i32)> {
    let mut parts = text.splitn(3, '.');
    let micros = parts.next()?.parse().ok()?;
    let delivery = parts.next()?.parse().ok()?;
    let number = parts.next()?.parse().ok()?;
    Some((micros, delivery, number))
}

/// Why a log position was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a position in the delivery log")]
pub struct BadCursor(pub String);

/// The delivery log of `tenant`, newest first, optionally for one event or one endpoint: up to
/// `limit` entries older than `before` (a [`LogEntry::cursor`]; `None`: from the newest).
/// Keyset paging: a page deep in the log costs what the first one does (an OFFSET reads and
/// drops every row before it).
pub async fn log_before(
    pool: &PgPool,
    tenant: &str,
    event: Option<&str>,
    endpoint: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Result<Vec<LogEntry>, BadCursor>, StoreError> {
    let position = match before.map(|b| parse_cursor(b).ok_or_else(|| BadCursor(b.to_owned()))) {
        Some(Err(e)) => return Ok(Err(e)),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let filter = Filter {
        tenant,
        event,
        endpoint,
    };
    entries(pool, filter, position, limit, 0).await.map(Ok)
}

/// Which entries: a tenant's, maybe of one event, maybe to one endpoint.
#[derive(Clone, Copy)]
struct Filter<'a> {
    tenant: &'a str,
    event: Option<&'a str>,
    endpoint: Option<&'a str>,
}

/// Up to `limit` entries of `filter`, newest first, after `position` and `offset` ones.
async fn entries(
    pool: &PgPool,
    filter: Filter<'_>,
    position: Option<(i64, i64, i32)>,
    limit: i64,
    offset: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT delivery_id, event_id, endpoint_id, number, status, error, result, started_at,
                duration_ms, excerpt,
                (extract(epoch FROM started_at) * 1000000)::bigint AS micros
         FROM lmsw_attempts
         WHERE tenant = $1
           AND ($2::text IS NULL OR delivery_id IN
             (SELECT id FROM lmsw_deliveries WHERE tenant = $1 AND event_id = $2))
           AND ($3::text IS NULL OR endpoint_id = $3)
           AND ($5::bigint IS NULL OR (started_at, delivery_id, number)
                < (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6, $7))
         ORDER BY started_at DESC, delivery_id DESC, number DESC LIMIT $4 OFFSET $8",
    )
    .bind(filter.tenant)
    .bind(filter.event)
    .bind(filter.endpoint)
    .bind(limit)
    .bind(position.map(|p| p.0))
    .bind(position.map(|p| p.1))
    .bind(position.map(|p| p.2))
    .bind(offset)
    .fetch_all(pool)
    .await?;
    rows.iter().map(entry).collect()
}

fn entry(row: &sqlx::postgres::PgRow) -> Result<LogEntry, StoreError> {
    let at: OffsetDateTime = row.try_get("started_at")?;
    let micros: i64 = row.try_get("micros")?;
    let delivery: i64 = row.try_get("delivery_id")?;
    let number: i32 = row.try_get("number")?;
    Ok(LogEntry {
        event: row.try_get("event_id")?,
        endpoint: row.try_get("endpoint_id")?,
        attempt: number,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        result: row.try_get("result")?,
        at: Timestamp::try_from(at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        duration_ms: row.try_get("duration_ms")?,
        excerpt: row.try_get("excerpt")?,
        cursor: format!("{micros}.{delivery}.{number}"),
    })
}

/// The delivery log of `tenant`, newest first, optionally for one event or one endpoint;
/// `limit` rows from `offset`. It holds no secret: no master key is needed to read it. Deep
/// pages read every row before them: page with [`log_before`].
pub async fn log_page(
    pool: &PgPool,
    tenant: &str,
    event: Option<&str>,
    endpoint: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<LogEntry>, StoreError> {
    let filter = Filter {
        tenant,
        event,
        endpoint,
    };
    entries(pool, filter, None, limit, offset).await
}
