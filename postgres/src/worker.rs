//! Workers: claim due deliveries with `FOR UPDATE SKIP LOCKED` under a lease, send outside any
//! transaction, and write the outcome, the attempt and the endpoint's status in one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, Next, Outcome, RequestError};
use lms_webhooks::transport::{ReqwestTransport, Transport};
use lms_webhooks::{Endpoint, Timestamp};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, Row};
use tokio::sync::Notify;

use crate::outbox::{load_delivery, odt, store_delivery, CHANNEL};
use crate::{Outbox, StoreError};

/// A worker: any number of them, in any number of processes, share one outbox.
///
/// Each of its `concurrency` loops claims one due delivery at a time with a lease (a short
/// transaction, `FOR UPDATE SKIP LOCKED`), builds the request from the endpoint as it is now,
/// sends it outside any transaction, then writes the outcome, the attempt row, the next due
/// time and the endpoint's status in one transaction. A worker that dies mid-attempt loses
/// nothing: when its lease expires another worker takes the delivery (at least once; the event
/// id is the receivers' deduplication key). Workers wake on `NOTIFY` from a publish, and poll
/// as a fallback.
#[derive(Clone)]
pub struct Worker {
    outbox: Outbox,
    transport: Arc<ReqwestTransport>,
    owner: String,
    concurrency: usize,
    lease: Duration,
    poll: Duration,
    speedup: u32,
    /// Endpoints unsealed lately, by tenant and id, with the sealed bytes they came from: a
    /// claim that brings the same bytes reuses the endpoint (and its built target) instead of
    /// decrypting it again. Any edit changes the bytes (a fresh IV), so nothing stale is used.
    unsealed: Arc<std::sync::Mutex<Unsealed>>,
    hook: Option<Hook>,
}

/// What the host is told as it happens (after the transaction that made it so committed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
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

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("poll", &self.poll)
            .field("speedup", &self.speedup)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// Endpoints by (tenant, id), with the sealed bytes each was opened from.
type Unsealed = HashMap<(String, String), (Vec<u8>, Endpoint)>;

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
}

#[derive(Default)]
struct Counters {
    attempts: AtomicU64,
    delivered: AtomicU64,
    gave_up: AtomicU64,
    held: AtomicU64,
}

/// What one claim came to.
enum Worked {
    /// Nothing due.
    Idle,
    /// A delivery was handled.
    Busy,
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

impl Worker {
    /// A worker on `outbox`, sending with `transport`: 8 attempts at once, 60 s leases, a poll
    /// every second when no notification comes.
    pub fn new(outbox: Outbox, transport: ReqwestTransport) -> Worker {
        let n = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Worker {
            outbox,
            transport: Arc::new(transport),
            owner: format!("worker-{}-{n}", std::process::id()),
            concurrency: 8,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            speedup: 1,
            unsealed: Arc::default(),
            hook: None,
        }
    }

    /// Attempts at once in this worker.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Worker {
        self.concurrency = n.max(1);
        self
    }

    /// How long a claimed delivery is this worker's: longer than an attempt can take.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Worker {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// How often to look for due deliveries when no notification comes.
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> Worker {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// Divides every retry delay by `factor` (tests and demos only).
    #[must_use]
    pub fn with_speedup(mut self, factor: u32) -> Worker {
        self.speedup = factor.max(1);
        self
    }

    /// Calls `hook` with operational [`Notice`]s: an endpoint failed or was disabled, a
    /// delivery gave up.
    #[must_use]
    pub fn with_hook(mut self, hook: impl Fn(Notice) + Send + Sync + 'static) -> Worker {
        self.hook = Some(Arc::new(hook));
        self
    }

    fn notify(&self, notice: Notice) {
        if let Some(hook) = &self.hook {
            hook(notice);
        }
    }

    /// The name this worker's leases carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `shutdown` completes, then lets the attempts in flight finish.
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerStats, StoreError> {
        self.run_loops(Some(shutdown), false).await
    }

    /// Runs until no delivery is pending or leased (held ones do not count), then returns.
    pub async fn run_until_idle(&self) -> Result<WorkerStats, StoreError> {
        self.run_loops(None::<std::future::Pending<()>>, true).await
    }

    async fn run_loops(
        &self,
        shutdown: Option<impl std::future::Future<Output = ()>>,
        until_idle: bool,
    ) -> Result<WorkerStats, StoreError> {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let mut listener = PgListener::connect_with(self.outbox.pool()).await?;
        listener.listen(CHANNEL).await?;
        let waker = {
            let wake = Arc::clone(&wake);
            tokio::spawn(async move {
                while listener.recv().await.is_ok() {
                    wake.notify_waiters();
                }
            })
        };
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency {
            let (me, wake, stop, counters) = (
                self.clone(),
                Arc::clone(&wake),
                Arc::clone(&stop),
                Arc::clone(&counters),
            );
            loops.spawn(async move { me.work_loop(&wake, &stop, &counters, until_idle).await });
        }
        let shutdown = async move {
            match shutdown {
                Some(shutdown) => shutdown.await,
                None => std::future::pending().await,
            }
        };
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        let mut first_error = None;
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    stopping = true;
                    stop.store(true, Ordering::SeqCst);
                    wake.notify_waiters();
                }
                done = loops.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => {
                        // One loop failed for good: the others stop after their attempt.
                        stop.store(true, Ordering::SeqCst);
                        wake.notify_waiters();
                        first_error.get_or_insert(e);
                    }
                    Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Some(Err(_)) => {}
                },
            }
        }
        waker.abort();
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(WorkerStats {
            attempts: counters.attempts.load(Ordering::Relaxed),
            delivered: counters.delivered.load(Ordering::Relaxed),
            gave_up: counters.gave_up.load(Ordering::Relaxed),
            held: counters.held.load(Ordering::Relaxed),
        })
    }

    async fn work_loop(
        &self,
        wake: &Notify,
        stop: &AtomicBool,
        counters: &Counters,
        until_idle: bool,
    ) -> Result<(), StoreError> {
        let mut failures = 0u32;
        while !stop.load(Ordering::SeqCst) {
            let notified = wake.notified();
            match self.work_once(counters).await {
                Ok(Worked::Busy) => {
                    failures = 0;
                    continue;
                }
                Ok(Worked::Idle) => failures = 0,
                // A lost connection or a busy database: the lease keeps the delivery safe;
                // back off and try again.
                Err(StoreError::Database(_)) if failures < 20 => {
                    failures += 1;
                    tokio::time::sleep(self.poll.min(Duration::from_millis(200)) * failures).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if until_idle && self.idle().await? {
                return Ok(());
            }
            let wait = match until_idle {
                // Wake for the next due retry, however near.
                true => self.poll.min(Duration::from_millis(100)),
                false => self.poll,
            };
            let _ = tokio::time::timeout(wait, notified).await;
        }
        Ok(())
    }

    async fn idle(&self) -> Result<bool, StoreError> {
        let busy: bool = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM lmsw_deliveries WHERE state = 'pending') AS busy",
        )
        .fetch_one(self.outbox.pool())
        .await?
        .try_get("busy")?;
        Ok(!busy)
    }

    /// Claims one due delivery and handles it.
    async fn work_once(&self, counters: &Counters) -> Result<Worked, StoreError> {
        let pool = self.outbox.pool();
        let Some(row) = sqlx::query(
            "UPDATE lmsw_deliveries SET lease_owner = $1,
                    lease_until = now() + make_interval(secs => $2)
             WHERE id = (
               SELECT id FROM lmsw_deliveries
               WHERE state = 'pending' AND next_due <= now()
                 AND (lease_until IS NULL OR lease_until < now())
               ORDER BY next_due LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, tenant, endpoint_id, delivery,
               (SELECT sealed FROM lmsw_endpoints e
                WHERE e.tenant = lmsw_deliveries.tenant AND e.id = lmsw_deliveries.endpoint_id)
               AS sealed,
               (SELECT rate_per_second FROM lmsw_endpoints e
                WHERE e.tenant = lmsw_deliveries.tenant AND e.id = lmsw_deliveries.endpoint_id)
               AS rate",
        )
        .bind(&self.owner)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(pool)
        .await?
        else {
            return Ok(Worked::Idle);
        };
        let id: i64 = row.try_get("id")?;
        let tenant: String = row.try_get("tenant")?;
        let endpoint_id: String = row.try_get("endpoint_id")?;
        let mut delivery = load_delivery(id, &row.try_get::<Vec<u8>, _>("delivery")?)?;

        let now = Timestamp::now();
        // The endpoint as it is now came with the claim, in the same round trip.
        let endpoint = match row.try_get::<Option<Vec<u8>>, _>("sealed")? {
            Some(sealed) => self.unseal(&tenant, &endpoint_id, sealed)?,
            None => {
                delivery.end_for_deleted_endpoint(now);
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(&self.owner)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(Worked::Busy);
            }
        };
        if let Some(rate) = row.try_get::<Option<f64>, _>("rate")? {
            if !self.take_token(id, &tenant, &endpoint_id, rate).await? {
                return Ok(Worked::Busy);
            }
        }
        let target = endpoint.target(now);
        let request = match delivery.next_request(now, &target) {
            Ok(request) => request,
            Err(RequestError::Held { .. }) => {
                self.hold(id, &tenant, &endpoint_id).await?;
                counters.held.fetch_add(1, Ordering::Relaxed);
                return Ok(Worked::Busy);
            }
            Err(RequestError::Ended { .. }) => {
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(&self.owner)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(Worked::Busy);
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    what: format!("delivery {id}"),
                    reason: e.to_string(),
                })
            }
        };
        // The request goes out with no transaction open.
        let outcome = self.transport.send(request).await;
        counters.attempts.fetch_add(1, Ordering::Relaxed);
        let next = self
            .record(id, &tenant, &endpoint, &mut delivery, &target, outcome)
            .await?;
        match next {
            Some(Next::Done) => counters.delivered.fetch_add(1, Ordering::Relaxed),
            Some(Next::GaveUp(reason)) => {
                self.notify(Notice::DeliveryGaveUp {
                    tenant: tenant.clone(),
                    event: delivery.event_id().to_owned(),
                    endpoint: endpoint_id.clone(),
                    reason,
                });
                counters.gave_up.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        Ok(Worked::Busy)
    }

    fn unseal(&self, tenant: &str, id: &str, sealed: Vec<u8>) -> Result<Endpoint, StoreError> {
        let key = (tenant.to_owned(), id.to_owned());
        let mut cache = self
            .unsealed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((bytes, endpoint)) = cache.get(&key) {
            if *bytes == sealed {
                return Ok(endpoint.clone());
            }
        }
        let endpoint = self.outbox.unseal(tenant, id, &sealed)?;
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(key, (sealed, endpoint.clone()));
        Ok(endpoint)
    }

    /// Takes one token from the endpoint's bucket; without one, puts the delivery back due when
    /// the next token comes, and returns false.
    async fn take_token(
        &self,
        id: i64,
        tenant: &str,
        endpoint_id: &str,
        rate: f64,
    ) -> Result<bool, StoreError> {
        let pool = self.outbox.pool();
        let took = sqlx::query(
            "UPDATE lmsw_endpoints SET
               rate_tokens = least(greatest(rate_per_second, 1),
                 rate_tokens + rate_per_second * extract(epoch FROM clock_timestamp() - rate_at)) - 1,
               rate_at = clock_timestamp()
             WHERE tenant = $1 AND id = $2 AND rate_per_second IS NOT NULL
               AND least(greatest(rate_per_second, 1),
                 rate_tokens + rate_per_second * extract(epoch FROM clock_timestamp() - rate_at)) >= 1",
        )
        .bind(tenant)
        .bind(endpoint_id)
        .execute(pool)
        .await?
        .rows_affected()
            == 1;
        if !took {
            sqlx::query(
                "UPDATE lmsw_deliveries SET lease_owner = NULL, lease_until = NULL,
                   next_due = clock_timestamp() + make_interval(secs => $3)
                 WHERE id = $1 AND lease_owner = $2",
            )
            .bind(id)
            .bind(&self.owner)
            .bind(1.0 / rate.max(0.001))
            .execute(pool)
            .await?;
        }
        Ok(took)
    }

    /// Parks a delivery whose endpoint is paused or failed, under a share lock on the
    /// endpoint row: an edit that makes the endpoint active again (and releases what it held)
    /// either runs before, and the delivery is not parked but claimed again, or after, and it
    /// releases this one too. Nothing stays held behind an active endpoint.
    async fn hold(&self, id: i64, tenant: &str, endpoint_id: &str) -> Result<(), StoreError> {
        let mut tx = self.outbox.pool().begin().await?;
        let status: Option<String> = sqlx::query(
            "SELECT status FROM lmsw_endpoints WHERE tenant = $1 AND id = $2 FOR SHARE",
        )
        .bind(tenant)
        .bind(endpoint_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("status"))
        .transpose()?;
        let still_held = matches!(status.as_deref(), Some("paused" | "failed"));
        sqlx::query(
            "UPDATE lmsw_deliveries
             SET state = CASE WHEN $3 THEN 'held' ELSE 'pending' END,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(&self.owner)
        .bind(still_held)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The outcome, the attempt row and the endpoint's status, in one transaction (one
    /// statement when the endpoint's status bookkeeping does not change, the usual case: no
    /// lock on the endpoint row then). `None` when the lease was lost meanwhile (another worker
    /// has the delivery: nothing is written).
    async fn record(
        &self,
        id: i64,
        tenant: &str,
        endpoint: &lms_webhooks::Endpoint,
        delivery: &mut Delivery,
        target: &lms_webhooks::Target,
        outcome: Outcome,
    ) -> Result<Option<Next>, StoreError> {
        let now = Timestamp::now();
        let corrupt = |e: lms_webhooks::delivery::RecordError| StoreError::Corrupt {
            what: format!("delivery {id}"),
            reason: e.to_string(),
        };
        let next = delivery.record(now, target, outcome).map_err(corrupt)?;
        let mut probe = endpoint.clone();
        probe.record_result(now, next);
        let due = match next {
            Next::RetryAt(due) if self.speedup > 1 => {
                now.saturating_add(due.duration_since(now).unwrap_or_default() / self.speedup)
            }
            Next::RetryAt(due) => due,
            _ => now,
        };
        if probe == *endpoint {
            // The usual case: one statement, atomic by itself, no transaction to open.
            let mut conn = self.outbox.pool().acquire().await?;
            let written = record_attempt(
                &mut conn,
                id,
                tenant,
                endpoint.id(),
                delivery,
                due,
                &self.owner,
            )
            .await?;
            return Ok(written.then_some(next));
        }
        let mut status_change = None;
        let mut tx = self.outbox.pool().begin().await?;
        {
            // The status bookkeeping changes (a failure counted, Failed, 410 → Disabled):
            // under the endpoint row's lock, on the endpoint as it is now.
            match self.outbox.load(&mut tx, tenant, endpoint.id(), true).await {
                Ok(mut current) => {
                    let before = current.status();
                    let after = current.record_result(now, next);
                    self.outbox.save(&mut tx, tenant, &current).await?;
                    if after != before {
                        status_change = Some(after);
                    }
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if !record_attempt(
            &mut tx,
            id,
            tenant,
            endpoint.id(),
            delivery,
            due,
            &self.owner,
        )
        .await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let who = || (tenant.to_owned(), endpoint.id().to_owned());
        match status_change {
            Some(lms_webhooks::EndpointStatus::Failed) => {
                let (tenant, endpoint) = who();
                self.notify(Notice::EndpointFailed { tenant, endpoint });
            }
            Some(lms_webhooks::EndpointStatus::Disabled) => {
                let (tenant, endpoint) = who();
                self.notify(Notice::EndpointDisabled { tenant, endpoint });
            }
            _ => {}
        }
        Ok(Some(next))
    }
}

/// The delivery's new state and its attempt row, in one statement, only while `owner` holds
/// the lease. False when the lease was lost.
pub(crate) async fn record_attempt(
    conn: &mut PgConnection,
    id: i64,
    tenant: &str,
    endpoint_id: &str,
    delivery: &Delivery,
    due: Timestamp,
    owner: &str,
) -> Result<bool, StoreError> {
    let Some(attempt) = delivery.attempts().last() else {
        return store_delivery(conn, id, delivery, Some(owner)).await;
    };
    let (status, error, excerpt) = match &attempt.outcome {
        Outcome::Response { status, body, .. } => (Some(i32::from(*status)), None, body.clone()),
        Outcome::Timeout => (None, Some("timeout".to_owned()), String::new()),
        Outcome::Error { message } => (None, Some(message.clone()), String::new()),
        other => (None, Some(format!("{other:?}")), String::new()),
    };
    let result = match attempt.next {
        Next::Done => "delivered",
        Next::RetryAt(_) => "retry",
        Next::GaveUp(_) => "gave_up",
    };
    let state = crate::outbox::state_name(delivery.state());
    let written = sqlx::query(
        "WITH d AS (
           UPDATE lmsw_deliveries SET state = $2, next_due = $3, attempt_count = $4,
             delivery = $5, lease_owner = NULL, lease_until = NULL,
             finished_at = CASE WHEN $2 IN ('done', 'gave_up') THEN now() ELSE NULL END
           WHERE id = $1 AND lease_owner = $6
           RETURNING id)
         INSERT INTO lmsw_attempts (delivery_id, number, tenant, event_id, endpoint_id,
           started_at, duration_ms, status, error, result, excerpt)
         SELECT d.id, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM d
         ON CONFLICT (delivery_id, number) DO NOTHING",
    )
    .bind(id)
    .bind(state)
    .bind(delivery.next_due().map(|_| odt(due)))
    .bind(delivery.attempt_count() as i32)
    .bind(delivery.to_json())
    .bind(owner)
    .bind(attempt.number as i32)
    .bind(tenant)
    .bind(delivery.event_id())
    .bind(endpoint_id)
    .bind(odt(attempt.started_at))
    .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
    .bind(status)
    .bind(error)
    .bind(result)
    .bind(excerpt)
    .execute(&mut *conn)
    .await?;
    Ok(written.rows_affected() == 1)
}
