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
    /// The delivery the attempt belongs to (with `attempt`, the attempt's key).
    pub delivery: i64,
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
    let filter = Filter {
        tenant,
        event,
        endpoint,
        narrow: &LogFilter::default(),
    };
    keyset(pool, filter, before, limit).await
}

/// Up to `limit` entries of `filter` older than the position `before` (a [`LogEntry::cursor`]).
async fn keyset(
    pool: &PgPool,
    filter: Filter<'_>,
    before: Option<&str>,
    limit: i64,
) -> Result<Result<Vec<LogEntry>, BadCursor>, StoreError> {
    let position = match before.map(|b| parse_cursor(b).ok_or_else(|| BadCursor(b.to_owned()))) {
        Some(Err(e)) => return Ok(Err(e)),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    entries(pool, filter, position, limit, 0).await.map(Ok)
}

/// What else a log read may narrow to: the event's type, the attempt's result, a time range.
///
/// ```
/// use lms_webhooks::Timestamp;
/// use lms_webhooks_postgres::LogFilter;
///
/// let failures_today = LogFilter::new()
///     .event_type("sales.transaction.completed")
///     .result("retry")
///     .since(Timestamp::from_unix(1_795_392_000)?);
/// # let _ = failures_today;
/// # Ok::<(), lms_webhooks::TimestampError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogFilter {
    /// Only attempts of events of this type.
    pub event_type: Option<String>,
    /// Only attempts with this result: `delivered`, `retry` or `gave_up`.
    pub result: Option<String>,
    /// Only attempts started at or after this time.
    pub since: Option<Timestamp>,
    /// Only attempts started before this time.
    pub until: Option<Timestamp>,
}

impl LogFilter {
    /// No narrowing: every attempt.
    pub fn new() -> LogFilter {
        LogFilter::default()
    }

    /// Only attempts of events of `event_type`.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> LogFilter {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only attempts with `result` (`delivered`, `retry` or `gave_up`).
    #[must_use]
    pub fn result(mut self, result: impl Into<String>) -> LogFilter {
        self.result = Some(result.into());
        self
    }

    /// Only attempts started at or after `since`.
    #[must_use]
    pub fn since(mut self, since: Timestamp) -> LogFilter {
        self.since = Some(since);
        self
    }

    /// Only attempts started before `until`.
    #[must_use]
    pub fn until(mut self, until: Timestamp) -> LogFilter {
        self.until = Some(until);
        self
    }
}

/// [`log_before`] narrowed by `narrow`: up to `limit` entries of `tenant` (to `endpoint`, if
/// given) older than `before`, newest first. The event type is looked up per attempt in the
/// messages' primary key, so a narrow filter over a long log reads as many attempts as it
/// takes to fill the page.
pub async fn log_filtered(
    pool: &PgPool,
    tenant: &str,
    endpoint: Option<&str>,
    narrow: &LogFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Result<Vec<LogEntry>, BadCursor>, StoreError> {
    let filter = Filter {
        tenant,
        event: None,
        endpoint,
        narrow,
    };
    keyset(pool, filter, before, limit).await
}

/// Which entries: a tenant's, maybe of one event, maybe to one endpoint, narrowed.
#[derive(Clone, Copy)]
struct Filter<'a> {
    tenant: &'a str,
    event: Option<&'a str>,
    endpoint: Option<&'a str>,
    narrow: &'a LogFilter,
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
           AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM lmsw_messages m
                WHERE m.tenant = $1 AND m.event_id = lmsw_attempts.event_id
                  AND m.event_type = $9))
           AND ($10::text IS NULL OR result = $10)
           AND ($11::timestamptz IS NULL OR started_at >= $11)
           AND ($12::timestamptz IS NULL OR started_at < $12)
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
    .bind(filter.narrow.event_type.as_deref())
    .bind(filter.narrow.result.as_deref())
    .bind(filter.narrow.since.map(crate::sql::odt))
    .bind(filter.narrow.until.map(crate::sql::odt))
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
        delivery,
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
        narrow: &LogFilter::default(),
    };
    entries(pool, filter, None, limit, offset).await
}

/// One attempt of `tenant`'s endpoint `endpoint` (its delivery and number, as in
/// [`LogEntry::delivery`] and [`LogEntry::attempt`]), with its event's type; `None` when the
/// tenant's endpoint has no such attempt.
#[cfg(feature = "admin")]
pub(crate) async fn attempt(
    pool: &PgPool,
    tenant: &str,
    endpoint: &str,
    delivery: i64,
    number: i32,
) -> Result<Option<(LogEntry, String)>, StoreError> {
    let row = sqlx::query(
        "SELECT a.delivery_id, a.event_id, a.endpoint_id, a.number, a.status, a.error, a.result,
                a.started_at, a.duration_ms, a.excerpt,
                (extract(epoch FROM a.started_at) * 1000000)::bigint AS micros,
                coalesce(m.event_type, '') AS event_type
         FROM lmsw_attempts a
         LEFT JOIN lmsw_messages m ON m.tenant = a.tenant AND m.event_id = a.event_id
         WHERE a.delivery_id = $3 AND a.number = $4 AND a.tenant = $1 AND a.endpoint_id = $2",
    )
    .bind(tenant)
    .bind(endpoint)
    .bind(delivery)
    .bind(number)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some((entry(&row)?, row.try_get("event_type")?))),
        None => Ok(None),
    }
}
