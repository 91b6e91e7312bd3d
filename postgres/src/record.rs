//! Writing attempts' outcomes: each delivery's new state and its attempt row, for one delivery
//! or many in one statement (a worker's [`Recorder`] groups the outcomes that arrive while it
//! writes, as a database groups commits).

use lms_webhooks::delivery::{Delivery, Next, Outcome};
use lms_webhooks::Timestamp;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

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
    fn column<'a, T>(rows: &'a [Written], f: impl Fn(&'a Written) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    let written = sqlx::query(
        "WITH i AS (
           SELECT * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::int[],
             $6::timestamptz[], $7::int[], $8::text[], $9::text[], $10::text[],
             $11::timestamptz[], $12::bigint[], $13::int[], $14::text[], $15::text[],
             $16::text[], $1::text[], $17::text[], $18::timestamptz[])
           AS i(id, state, next_due, attempt_count, round_first_at, number, tenant, event_id,
             endpoint_id, started_at, duration_ms, status, error, result, excerpt, lease,
             gave_up_reason, gave_up_at)),
         d AS (
           UPDATE lmsw_deliveries SET state = i.state, next_due = i.next_due,
             attempt_count = i.attempt_count, round_first_at = i.round_first_at,
             gave_up_reason = i.gave_up_reason, gave_up_at = i.gave_up_at,
             lease_owner = NULL, lease_until = NULL,
             finished_at = CASE WHEN i.state IN ('done', 'gave_up') THEN now() ELSE NULL END
           FROM i WHERE lmsw_deliveries.id = i.id AND lmsw_deliveries.lease_owner = i.lease
           RETURNING lmsw_deliveries.id),
         a AS (
           INSERT INTO lmsw_attempts (delivery_id, number, tenant, event_id, endpoint_id,
             started_at, duration_ms, status, error, result, excerpt)
           SELECT i.id, i.number, i.tenant, i.event_id, i.endpoint_id, i.started_at,
             i.duration_ms, i.status, i.error, i.result, i.excerpt
           FROM i JOIN d ON d.id = i.id
           ON CONFLICT (delivery_id, number) DO NOTHING),
         t AS (
           SELECT i.tenant, i.endpoint_id, max(i.started_at) AS started_at
           FROM i JOIN d ON d.id = i.id WHERE i.result = 'delivered' GROUP BY 1, 2),
         l AS (
           SELECT e.tenant, e.id, t.started_at FROM lmsw_endpoints e
           JOIN t ON e.tenant = t.tenant AND e.id = t.endpoint_id
           WHERE e.consecutive_failures <> 0 OR e.failing_since IS NOT NULL
             OR e.last_triggered_at IS NULL
             OR e.last_triggered_at < t.started_at - interval '1 second'
           ORDER BY e.tenant, e.id FOR UPDATE OF e),
         h AS (
           UPDATE lmsw_endpoints e SET consecutive_failures = 0, failing_since = NULL,
             last_triggered_at = greatest(e.last_triggered_at, l.started_at)
           FROM l WHERE e.tenant = l.tenant AND e.id = l.id)
         SELECT id FROM d",
    )
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
    .fetch_all(&mut *conn)
    .await?;
    written
        .iter()
        .map(|row| row.try_get("id").map_err(StoreError::from))
        .collect()
}

/// The longest response excerpt kept in an attempt row, in characters.
const EXCERPT: usize = 1024;

/// Statements under way at once, per worker. One: the outcomes that arrive while it writes
/// make the next group (about 7 a statement where two writers made 4, draining 10,000
/// deliveries with 8 slots: a third less PostgreSQL time on writes, measured), and a worker
/// leases ahead, so that a write's wait never idles the wire.
const WRITERS: usize = 1;

/// Largest group written in one statement.
const GROUP: usize = 64;

type Reply = oneshot::Sender<Result<bool, String>>;

/// A worker's writer of outcomes: attempts hand it their rows and wait; it writes whatever has
/// arrived meanwhile in one statement. Under load one statement carries many outcomes; alone,
/// an outcome is written at once, as it would be by itself.
#[derive(Clone)]
pub(crate) struct Recorder {
    queue: mpsc::Sender<(Written, Reply)>,
}

impl Recorder {
    /// Starts the recorder's task on `pool`, each row written under its claim's lease. It
    /// ends when the last handle is dropped, after writing what it was given.
    pub(crate) fn start(pool: PgPool) -> Recorder {
        let (queue, incoming) = mpsc::channel::<(Written, Reply)>(GROUP * 4);
        let incoming = std::sync::Arc::new(tokio::sync::Mutex::new(incoming));
        for _ in 0..WRITERS {
            let (pool, incoming) = (pool.clone(), incoming.clone());
            tokio::spawn(async move {
                let mut group = Vec::with_capacity(GROUP);
                loop {
                    // A writer takes what has arrived (another, if any, may be writing).
                    if incoming.lock().await.recv_many(&mut group, GROUP).await == 0 {
                        return;
                    }
                    let (rows, replies): (Vec<Written>, Vec<Reply>) = group.drain(..).unzip();
                    let result = match pool.acquire().await {
                        Ok(mut conn) => write(&mut conn, &rows).await,
                        Err(e) => Err(e.into()),
                    };
                    for (row, reply) in rows.iter().zip(replies) {
                        let _ = reply.send(match &result {
                            Ok(ids) => Ok(ids.contains(&row.id)),
                            Err(e) => Err(e.to_string()),
                        });
                    }
                }
            });
        }
        Recorder { queue }
    }

    /// Writes `row` with the others waiting; false when the lease was lost. A failed write
    /// (the database away) comes back as [`StoreError::Database`]: the lease then expires and
    /// the delivery is attempted again.
    pub(crate) async fn write(&self, row: Written) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.queue.send((row, reply)).await.map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())? {
            Ok(written) => Ok(written),
            Err(message) => Err(StoreError::Database(sqlx::Error::Io(
                std::io::Error::other(message),
            ))),
        }
    }
}
