//! Writing attempts' outcomes: each delivery's new state and its attempt row, for one delivery
//! or many in one statement (a worker's recorder, `worker::writer`, groups the outcomes that
//! arrive while it writes, as a database groups commits, and claims the room they free in the
//! same round trip).

use lms_webhooks::delivery::{Delivery, Next, Outcome};
use lms_webhooks::Timestamp;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row};
use time::OffsetDateTime;

use crate::rows::StateColumns;
use crate::sql::odt;
use crate::StoreError;

/// One attempt's outcome as it is written: the delivery's row and the attempt's, and the
/// lease token of the claim that made it (the row is written only while that claim holds it).
pub(crate) struct Written {
    id: i64,
    lease: String,
    state: &'static str,
    next_due: Option<OffsetDateTime>,
    attempt_count: i32,
    round_first_at: Option<OffsetDateTime>,
    gave_up_reason: Option<&'static str>,
    gave_up_at: Option<OffsetDateTime>,
    number: i32,
    tenant: String,
    event_id: String,
    endpoint_id: String,
    started_at: OffsetDateTime,
    duration_ms: i64,
    status: Option<i32>,
    error: Option<String>,
    result: &'static str,
    excerpt: String,
}

impl Written {
    /// The delivery's id.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    /// The rows for `delivery`'s last attempt, due again at `due` if it retries; `None` when
    /// it has no attempt (it ended without one).
    pub(crate) fn new(
        id: i64,
        lease: &str,
        tenant: &str,
        endpoint_id: &str,
        delivery: &Delivery,
        due: Timestamp,
    ) -> Option<Written> {
        let attempt = delivery.attempts().last()?;
        let (status, error, excerpt) = match &attempt.outcome {
            Outcome::Response { status, body, .. } => {
                (Some(i32::from(*status)), None, body.clone())
            }
            Outcome::Timeout => (None, Some("timeout".to_owned()), String::new()),
            Outcome::Error { message } => (None, Some(message.clone()), String::new()),
            other => (None, Some(format!("{other:?}")), String::new()),
        };
        let columns = StateColumns::of(delivery);
        Some(Written {
            id,
            lease: lease.to_owned(),
            state: columns.state,
            next_due: delivery.next_due().map(|_| odt(due)),
            attempt_count: i32::try_from(delivery.attempt_count()).unwrap_or(i32::MAX),
            round_first_at: delivery.parts().round_first_at.map(odt),
            gave_up_reason: columns.gave_up_reason,
            gave_up_at: columns.gave_up_at,
            number: i32::try_from(attempt.number).unwrap_or(i32::MAX),
            tenant: tenant.to_owned(),
            event_id: delivery.event_id().to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            started_at: odt(attempt.started_at),
            duration_ms: i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
            status,
            error,
            result: match attempt.next {
                Next::Done => "delivered",
                Next::RetryAt(_) => "retry",
                Next::GaveUp(_) => "gave_up",
            },
            // A transport of the host's may read more than the crate's do (1 KiB).
            excerpt: excerpt.chars().take(EXCERPT).collect(),
        })
    }
}

/// The delivery's new state and its attempt row, only while the claim `lease` holds the
/// delivery. False when the lease was lost (nothing is written then).
pub(crate) async fn record_attempt(
    conn: &mut PgConnection,
    id: i64,
    tenant: &str,
    endpoint_id: &str,
    delivery: &Delivery,
    due: Timestamp,
    lease: &str,
) -> Result<bool, StoreError> {
    match Written::new(id, lease, tenant, endpoint_id, delivery, due) {
        Some(row) => Ok(write(conn, &[row]).await? == [id]),
        None => crate::rows::store(conn, id, delivery, Some(lease)).await,
    }
}

/// The grouped write of outcomes (`migrations/record/write.sql`), returning the ids written.
const WRITE: &str = concat!(
    include_str!("../migrations/record/write.sql"),
    "SELECT id FROM d"
);

/// Writes `rows` in one statement (atomic by itself): each delivery that the claim which made
/// its row still holds (fenced by the claim's lease token: a claim whose lease ran out and was
/// taken by another writes nothing) gets its new state and its attempt row; the endpoints of
/// the delivered ones are healthy again, and their "Last Triggered" moves to the attempt (an
/// endpoint row is written only when that changes something, "Last Triggered" to the second,
/// and locked in a fixed order). Returns the ids written.
pub(crate) async fn write(
    conn: &mut PgConnection,
    rows: &[Written],
) -> Result<Vec<i64>, StoreError> {
    let written = bind_rows(sqlx::query(WRITE), rows)
        .fetch_all(&mut *conn)
        .await?;
    written
        .iter()
        .map(|row| row.try_get("id").map_err(StoreError::from))
        .collect()
}

/// `query` with `rows` bound as the write's first eighteen parameters, a column each.
pub(crate) fn bind_rows<'q>(
    query: Query<'q, Postgres, PgArguments>,
    rows: &'q [Written],
) -> Query<'q, Postgres, PgArguments> {
    fn column<'a, T>(rows: &'a [Written], f: impl Fn(&'a Written) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    query
        .bind(column(rows, |r| r.lease.as_str()))
        .bind(column(rows, |r| r.id))
        .bind(column(rows, |r| r.state))
        .bind(column(rows, |r| r.next_due))
        .bind(column(rows, |r| r.attempt_count))
        .bind(column(rows, |r| r.round_first_at))
        .bind(column(rows, |r| r.number))
        .bind(column(rows, |r| r.tenant.as_str()))
        .bind(column(rows, |r| r.event_id.as_str()))
        .bind(column(rows, |r| r.endpoint_id.as_str()))
        .bind(column(rows, |r| r.started_at))
        .bind(column(rows, |r| r.duration_ms))
        .bind(column(rows, |r| r.status))
        .bind(column(rows, |r| r.error.as_deref()))
        .bind(column(rows, |r| r.result))
        .bind(column(rows, |r| r.excerpt.as_str()))
        .bind(column(rows, |r| r.gave_up_reason))
        .bind(column(rows, |r| r.gave_up_at))
}

/// The longest response excerpt kept in an attempt row, in characters.
const EXCERPT: usize = 1024;
