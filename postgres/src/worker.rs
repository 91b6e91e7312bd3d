//! Workers: claim due deliveries with `FOR UPDATE SKIP LOCKED` under a lease, send outside any
//! transaction, and write the outcome, the attempt and the endpoint's status in one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, Next, Outcome, RequestError};
use lms_webhooks::endpoint::{Health, HealthChange, HealthEffect, HealthNotice};
use lms_webhooks::transport::{ReqwestTransport, Transport};
use lms_webhooks::{Endpoint, Timestamp};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::outbox::CHANNEL;
use crate::record::{record_attempt, Recorder, Written};
use crate::rows::store as store_delivery;
use crate::{Outbox, StoreError};

/// A worker: any number of them, in any number of processes, share one outbox.
///
/// It claims due deliveries with a lease (one statement, `FOR UPDATE SKIP LOCKED`, as many
/// rows as it has free slots), builds each request from the endpoint as it is now, sends it
/// outside any transaction, then writes the outcome, the attempt row and the next due time in
/// one statement, and the endpoint's status with them in one transaction when it changes. At
/// most `concurrency` requests are on the wire at once; while outcomes are being written (in
/// groups: the outcomes that arrive during one write go in the next), the next requests go
/// out. A worker that dies mid-attempt loses nothing: when its lease expires another worker
/// takes the delivery (at least once; the event id is the receivers' deduplication key).
/// Workers wake on `NOTIFY` from a publish, and poll as a fallback.
#[derive(Clone)]
pub struct Worker {
    outbox: Outbox,
    /// The worker's own connections (see [`Worker::new`]).
    pool: PgPool,
    transport: Arc<ReqwestTransport>,
    owner: String,
    concurrency: usize,
    lease: Duration,
    poll: Duration,
    outage: Duration,
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
    /// Outcomes not written because the claim had lost its lease to another claim meanwhile
    /// (this worker stalled past it): the other claim's outcome stands.
    pub lost_leases: u64,
    /// Deliveries parked because they could not be attempted (see [`Notice::DeliveryParked`]).
    pub parked: u64,
}

#[derive(Default)]
struct Counters {
    attempts: AtomicU64,
    delivered: AtomicU64,
    gave_up: AtomicU64,
    held: AtomicU64,
    lost_leases: AtomicU64,
    parked: AtomicU64,
}

/// The worker's own pool, lazily connected: see [`Worker::new`].
fn worker_pool(outbox: &Outbox, concurrency: usize) -> PgPool {
    let options = (*outbox.pool().connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency * 2 + 4).unwrap_or(u32::MAX))
        .connect_lazy_with(options)
}

/// A worker's slots: `n` requests on the wire at most, and `2 n` leased deliveries between
/// the claim and their written outcome (a request may go out while earlier outcomes are being
/// written).
struct Slots {
    sending: Arc<Semaphore>,
    leased: Arc<Semaphore>,
    /// Told whenever a slot frees up.
    freed: Arc<Notify>,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            sending: Arc::new(Semaphore::new(n)),
            leased: Arc::new(Semaphore::new(n * 2)),
            freed: Arc::new(Notify::new()),
        }
    }

    /// Every slot free now, taken.
    fn take_free(&self) -> Vec<Slot> {
        let mut taken = Vec::new();
        while let (Ok(sending), Ok(leased)) = (
            Arc::clone(&self.sending).try_acquire_owned(),
            Arc::clone(&self.leased).try_acquire_owned(),
        ) {
            taken.push(Slot {
                sending: Some(sending),
                leased: Some(leased),
                freed: Arc::clone(&self.freed),
            });
        }
        taken
    }
}

/// One claimed delivery's place, given back in two steps: once its request is
/// answered, and once its outcome is written.
struct Slot {
    sending: Option<OwnedSemaphorePermit>,
    leased: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Slot {
    /// The request is answered: another may go out.
    fn sent(&mut self) {
        self.sending = None;
        self.freed.notify_one();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The permits first, then the word: the dispatcher sees them free when it wakes.
        self.sending = None;
        self.leased = None;
        self.freed.notify_one();
    }
}

/// A leased delivery, as the claim returned it.
struct Claimed {
    id: i64,
    /// The claim's lease token (in `lease_owner`): every write about this delivery is fenced
    /// by it, so a claim whose lease ran out and was taken over writes nothing.
    lease: String,
    tenant: String,
    endpoint_id: String,
    /// The delivery, or why its row could not be read (it is then parked).
    delivery: Result<Delivery, StoreError>,
    /// The endpoint's sealed bytes; `None` when it was deleted.
    sealed: Option<Vec<u8>>,
    rate: Option<f64>,
    /// The endpoint's health columns as the claim read them.
    health: Option<Health>,
}

/// A delivery this worker holds the lease of, and its endpoint as it was for the attempt.
#[derive(Clone, Copy)]
struct Leased<'a> {
    id: i64,
    lease: &'a str,
    tenant: &'a str,
    endpoint: &'a Endpoint,
}

/// An attempt task's result: a panic is carried on, an error returned (the attempt parks what
/// it cannot attempt, so only its own writes' errors come here), except a lost connection or a
/// busy database: the delivery's lease expires and it is attempted again (the claims time
/// such outages and stop the worker when the database stays away too long).
fn joined(done: Result<Result<(), StoreError>, tokio::task::JoinError>) -> Result<(), StoreError> {
    match done {
        Ok(Err(StoreError::Database(_))) => Ok(()),
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

/// Numbers the claims of this process: with the worker's name, each claim's lease token.
static NEXT_CLAIM: AtomicU64 = AtomicU64::new(0);

impl Worker {
    /// A worker on `outbox`, sending with `transport`: 8 attempts at once, 60 s leases, a poll
    /// every second when no notification comes.
    ///
    /// The worker opens its own connections (lazily, at most twice its concurrency plus four)
    /// with the connect options of the outbox's pool, and with `plan_cache_mode` set to
    /// `force_generic_plan`: its few statements run thousands of times with parameters that
    /// do not change their best plan, and PostgreSQL would otherwise plan the claim and the
    /// grouped write again at every execution. The host's pool is left as it is. Settings a
    /// host applies in an `after_connect` hook are not carried over; put them in the connect
    /// options.
    pub fn new(outbox: Outbox, transport: ReqwestTransport) -> Worker {
        let n = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        Worker {
            pool: worker_pool(&outbox, 8),
            outbox,
            transport: Arc::new(transport),
            owner: format!("worker-{}-{n}", std::process::id()),
            concurrency: 8,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            outage: Duration::from_secs(60),
            speedup: 1,
            unsealed: Arc::default(),
            hook: None,
        }
    }

    /// Attempts at once in this worker.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Worker {
        self.concurrency = n.max(1);
        self.pool = worker_pool(&self.outbox, self.concurrency);
        self
    }

    /// How long a claimed delivery is this worker's without news (60 s unless set). An
    /// attempt that takes longer extends its lease (a heartbeat every third of it) instead of
    /// letting another worker claim the delivery again; a worker that stalls past it loses
    /// the delivery, and its late outcome is not written over the new claim's.
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

    /// How long the database may stay away before the worker gives up and returns its error
    /// (60 s unless set). Meanwhile it retries, backing off; leased deliveries are safe (their
    /// leases expire and they are attempted again). Nothing else stops a worker: a delivery
    /// that cannot be attempted is parked ([`Notice::DeliveryParked`]).
    #[must_use]
    pub fn with_outage_limit(mut self, limit: Duration) -> Worker {
        self.outage = limit;
        self
    }

    /// Divides every retry delay by `factor` (tests and demos only).
    #[must_use]
    pub fn with_speedup(mut self, factor: u32) -> Worker {
        self.speedup = factor.max(1);
        self
    }

    /// Calls `hook` with operational [`Notice`]s: an endpoint failed, was disabled or
    /// recovered, a delivery gave up.
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
        let counters = Arc::new(Counters::default());
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let waker = {
            let wake = Arc::clone(&wake);
            tokio::spawn(async move {
                while listener.recv().await.is_ok() {
                    wake.notify_waiters();
                }
            })
        };
        let shutdown = async move {
            match shutdown {
                Some(shutdown) => shutdown.await,
                None => std::future::pending().await,
            }
        };
        let mut shutdown = std::pin::pin!(shutdown);
        let (stop, _) = watch::channel(false);
        let recorder = Recorder::start(self.pool.clone());
        let slots = Slots::new(self.concurrency);
        // Two claimers share the slots, so that one's claim is under way while the other's
        // deliveries start: a claim is a round trip, and attempts end one by one.
        let claimers = async {
            let (a, b) = tokio::join!(
                self.dispatch(&slots, &wake, &stop, &counters, &recorder, until_idle),
                self.dispatch(&slots, &wake, &stop, &counters, &recorder, until_idle),
            );
            a.and(b)
        };
        let mut claimers = std::pin::pin!(claimers);
        let result = loop {
            tokio::select! {
                () = &mut shutdown, if !*stop.borrow() => {
                    let _ = stop.send(true);
                }
                result = &mut claimers => break result,
            }
        };
        waker.abort();
        result?;
        Ok(WorkerStats {
            attempts: counters.attempts.load(Ordering::Relaxed),
            delivered: counters.delivered.load(Ordering::Relaxed),
            gave_up: counters.gave_up.load(Ordering::Relaxed),
            held: counters.held.load(Ordering::Relaxed),
            lost_leases: counters.lost_leases.load(Ordering::Relaxed),
            parked: counters.parked.load(Ordering::Relaxed),
        })
    }

    /// Claims as many due deliveries as there are free slots, in one statement, and runs each
    /// as its own task. On shutdown, or when an attempt fails for good, stops claiming and lets
    /// the attempts in flight finish.
    async fn dispatch(
        &self,
        slots: &Slots,
        wake: &Notify,
        stop: &watch::Sender<bool>,
        counters: &Arc<Counters>,
        recorder: &Recorder,
        until_idle: bool,
    ) -> Result<(), StoreError> {
        let mut stopped = stop.subscribe();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error = None;
        let mut failures = 0u32;
        let mut outage_since = None;
        'run: while !*stopped.borrow() {
            while let Some(done) = in_flight.try_join_next() {
                if let Err(e) = joined(done) {
                    first_error.get_or_insert(e);
                    break 'run;
                }
            }
            let notified = wake.notified();
            let freed = slots.freed.notified();
            let mut drained = false;
            // The slots are taken first, then filled: the other claimer cannot take them too.
            let mut free = slots.take_free();
            if !free.is_empty() {
                match self.claim(free.len()).await {
                    Ok(claimed) => {
                        failures = 0;
                        outage_since = None;
                        drained = claimed.len() < free.len();
                        for (claim, slot) in claimed.into_iter().zip(free.drain(..)) {
                            let (me, counters, recorder) =
                                (self.clone(), Arc::clone(counters), recorder.clone());
                            in_flight.spawn(async move {
                                me.attempt(claim, slot, &counters, &recorder).await
                            });
                        }
                        // Slots left unfilled are given back as `free` drops.
                    }
                    // A lost connection or a busy database: the leases keep the deliveries
                    // safe; back off and try again.
                    Err(StoreError::Database(_))
                        if outage_since
                            .get_or_insert_with(std::time::Instant::now)
                            .elapsed()
                            < self.outage =>
                    {
                        failures = (failures + 1).min(10);
                        tokio::select! {
                            _ = stopped.wait_for(|s| *s) => break 'run,
                            () = tokio::time::sleep(
                                self.poll.min(Duration::from_millis(200)) * failures) => {}
                        }
                        continue;
                    }
                    Err(e) => {
                        first_error = Some(e);
                        break 'run;
                    }
                }
                if !drained {
                    continue;
                }
            }
            if drained && until_idle && in_flight.is_empty() && self.idle().await? {
                break;
            }
            // Nothing more due for now, or not enough free slots: wait for an attempt to end,
            // a notification, the next poll, or the shutdown.
            let wait = match until_idle {
                // Wake for the next due retry, however near.
                true => self.poll.min(Duration::from_millis(100)),
                false => self.poll,
            };
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                () = freed, if !drained => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(e) = joined(done) {
                        first_error = Some(e);
                        break;
                    }
                }
                _ = tokio::time::timeout(wait, notified), if drained || in_flight.is_empty() => {}
            }
        }
        // Graceful: the attempts in flight finish and are recorded.
        while let Some(done) = in_flight.join_next().await {
            if let Err(e) = joined(done) {
                first_error.get_or_insert(e);
            }
        }
        if first_error.is_some() {
            // The other claimer stops too.
            let _ = stop.send(true);
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn idle(&self) -> Result<bool, StoreError> {
        let busy: bool = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM lmsw_deliveries WHERE state = 'pending') AS busy",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("busy")?;
        Ok(!busy)
    }

    /// Leases up to `n` due deliveries in one statement, each with its endpoint as it is now,
    /// under a lease token of this claim's own.
    async fn claim(&self, n: usize) -> Result<Vec<Claimed>, StoreError> {
        let lease = format!(
            "{}#{}",
            self.owner,
            NEXT_CLAIM.fetch_add(1, Ordering::Relaxed)
        );
        let rows = sqlx::query(
            "WITH due AS (
               SELECT id FROM lmsw_deliveries
               WHERE state = 'pending' AND next_due <= now()
                 AND (lease_until IS NULL OR lease_until < now())
               ORDER BY next_due LIMIT $3 FOR UPDATE SKIP LOCKED),
             leased AS (
               UPDATE lmsw_deliveries d SET lease_owner = $1,
                      lease_until = now() + make_interval(secs => $2)
               FROM due WHERE d.id = due.id
               RETURNING d.id, d.tenant, d.event_id, d.endpoint_id, d.body, d.created_at,
                 d.state, d.next_due, d.attempt_count, d.round_start, d.round_first_at, d.seed,
                 d.gave_up_reason, d.gave_up_at)
             SELECT leased.id, leased.tenant, leased.event_id, leased.endpoint_id,
               coalesce(leased.body, m.body) AS body, leased.created_at, leased.state,
               leased.next_due, leased.attempt_count, leased.round_start,
               leased.round_first_at, leased.seed, leased.gave_up_reason, leased.gave_up_at,
               e.sealed, e.rate_per_second AS rate, e.status, e.consecutive_failures,
               e.failing_since, e.last_triggered_at
             FROM leased
             JOIN lmsw_messages m ON m.tenant = leased.tenant AND m.event_id = leased.event_id
             LEFT JOIN lmsw_endpoints e
               ON e.tenant = leased.tenant AND e.id = leased.endpoint_id",
        )
        .bind(&lease)
        .bind(self.lease.as_secs_f64())
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.try_get("id")?,
                    lease: lease.clone(),
                    tenant: row.try_get("tenant")?,
                    endpoint_id: row.try_get("endpoint_id")?,
                    delivery: crate::rows::from_row(row),
                    sealed: row.try_get("sealed")?,
                    rate: row.try_get("rate")?,
                    health: match row.try_get::<Option<String>, _>("status")? {
                        Some(_) => Some(crate::health::read(row)?),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// One leased delivery, attempted; one that cannot be (its row unreadable, its endpoint
    /// not unsealable) is parked with the reason and the worker goes on. A database error is
    /// returned: the lease then expires and the delivery is attempted again.
    async fn attempt(
        &self,
        claim: Claimed,
        slot: Slot,
        counters: &Counters,
        recorder: &Recorder,
    ) -> Result<(), StoreError> {
        let (id, lease) = (claim.id, claim.lease.clone());
        let (tenant, endpoint) = (claim.tenant.clone(), claim.endpoint_id.clone());
        match self.attempt_leased(claim, slot, counters, recorder).await {
            Err(StoreError::Database(e)) => Err(StoreError::Database(e)),
            Err(e) => {
                let reason = e.to_string();
                sqlx::query(
                    "UPDATE lmsw_deliveries SET state = 'parked', parked_reason = $3,
                       lease_owner = NULL, lease_until = NULL, finished_at = now()
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(id)
                .bind(&lease)
                .bind(&reason)
                .execute(&self.pool)
                .await?;
                counters.parked.fetch_add(1, Ordering::Relaxed);
                self.notify(Notice::DeliveryParked {
                    tenant,
                    endpoint,
                    reason,
                });
                Ok(())
            }
            ok => ok,
        }
    }

    /// One leased delivery: its request built from the endpoint as it is now, sent outside
    /// any transaction, its outcome recorded.
    async fn attempt_leased(
        &self,
        claim: Claimed,
        mut slot: Slot,
        counters: &Counters,
        recorder: &Recorder,
    ) -> Result<(), StoreError> {
        let pool = &self.pool;
        let Claimed {
            id,
            lease,
            tenant,
            endpoint_id,
            delivery,
            sealed,
            rate,
            health,
        } = claim;
        let (tenant, endpoint_id, lease) = (tenant.as_str(), endpoint_id.as_str(), lease.as_str());
        let mut delivery = delivery?;
        let now = Timestamp::now();
        // The endpoint as it is now came with the claim, in the same round trip.
        let endpoint = match sealed {
            Some(sealed) => {
                let mut endpoint = self.unseal(tenant, endpoint_id, sealed)?;
                if let Some(health) = health {
                    endpoint.set_health(health);
                }
                endpoint
            }
            None => {
                delivery.end_for_deleted_endpoint(now);
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(lease)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        if let Some(rate) = rate {
            if !self
                .take_token(id, lease, tenant, endpoint_id, rate)
                .await?
            {
                return Ok(());
            }
        }
        let target = endpoint.target(now);
        let request = match delivery.next_request(now, &target) {
            Ok(request) => request,
            Err(RequestError::Held { .. }) => {
                self.hold(id, lease, tenant, endpoint_id).await?;
                counters.held.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(RequestError::Ended { .. }) => {
                let mut conn = pool.acquire().await?;
                store_delivery(&mut conn, id, &delivery, Some(lease)).await?;
                counters.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                return Err(StoreError::Corrupt {
                    what: format!("delivery {id}"),
                    reason: e.to_string(),
                })
            }
        };
        // The request goes out with no transaction open; the lease is extended while it is
        // on the wire, however long that takes.
        let outcome = self.send_leased(id, lease, request).await;
        // The next request may go out while this outcome is written.
        slot.sent();
        counters.attempts.fetch_add(1, Ordering::Relaxed);
        // A lost connection here leaves the lease to expire: the delivery is sent again.
        let next = self
            .record(
                Leased {
                    id,
                    lease,
                    tenant,
                    endpoint: &endpoint,
                },
                &mut delivery,
                &target,
                outcome,
                recorder,
            )
            .await?;
        match next {
            Some(Next::Done) => counters.delivered.fetch_add(1, Ordering::Relaxed),
            Some(Next::GaveUp(reason)) => {
                self.notify(Notice::DeliveryGaveUp {
                    tenant: tenant.to_owned(),
                    event: delivery.event_id().to_owned(),
                    endpoint: endpoint_id.to_owned(),
                    reason,
                });
                counters.gave_up.fetch_add(1, Ordering::Relaxed)
            }
            None => counters.lost_leases.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        Ok(())
    }

    /// Sends `request` while extending the delivery's lease every third of it, so that an
    /// attempt longer than the lease is not claimed (and sent) a second time meanwhile. A
    /// heartbeat that finds the lease gone (the worker stalled past it, and another claim took
    /// the delivery) stops; the outcome is then not written.
    async fn send_leased(
        &self,
        id: i64,
        lease: &str,
        request: http::Request<bytes::Bytes>,
    ) -> Outcome {
        let send = self.transport.send(request);
        let mut send = std::pin::pin!(send);
        let every = self.lease / 3;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held = true;
        loop {
            tokio::select! {
                outcome = &mut send => return outcome,
                _ = beat.tick(), if held => {
                    let extended = sqlx::query(
                        "UPDATE lmsw_deliveries
                         SET lease_until = now() + make_interval(secs => $3)
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(id)
                    .bind(lease)
                    .bind(self.lease.as_secs_f64())
                    .execute(&self.pool)
                    .await;
                    // A lost connection: try again at the next beat.
                    held = !matches!(extended, Ok(done) if done.rows_affected() == 0);
                }
            }
        }
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
        lease: &str,
        tenant: &str,
        endpoint_id: &str,
        rate: f64,
    ) -> Result<bool, StoreError> {
        let pool = &self.pool;
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
            .bind(lease)
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
    async fn hold(
        &self,
        id: i64,
        lease: &str,
        tenant: &str,
        endpoint_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
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
        .bind(lease)
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
        leased: Leased<'_>,
        delivery: &mut Delivery,
        target: &lms_webhooks::Target,
        outcome: Outcome,
        recorder: &Recorder,
    ) -> Result<Option<Next>, StoreError> {
        let Leased {
            id,
            lease,
            tenant,
            endpoint,
        } = leased;
        let now = Timestamp::now();
        let corrupt = |e: lms_webhooks::delivery::RecordError| StoreError::Corrupt {
            what: format!("delivery {id}"),
            reason: e.to_string(),
        };
        let next = delivery.record(now, target, outcome).map_err(corrupt)?;
        let started = delivery.attempts().last().map_or(now, |a| a.started_at);
        let change = HealthChange::of(started, next);
        let due = match next {
            Next::RetryAt(due) if self.speedup > 1 => {
                now.saturating_add(due.duration_since(now).unwrap_or_default() / self.speedup)
            }
            Next::RetryAt(due) => due,
            _ => now,
        };
        let healthy = endpoint.health();
        if change.effect == HealthEffect::Delivered
            && healthy.consecutive_failures == 0
            && healthy.failing_since.is_none()
        {
            // The usual case: one statement, atomic by itself, shared with the other outcomes
            // that arrive meanwhile; it also moves "Last Triggered" (to the second) and resets
            // a failure count that a concurrent attempt may have raised since the claim.
            let written = match Written::new(id, lease, tenant, endpoint.id(), delivery, due) {
                Some(row) => recorder.write(row).await?,
                None => {
                    let mut conn = self.pool.acquire().await?;
                    store_delivery(&mut conn, id, delivery, Some(lease)).await?
                }
            };
            return Ok(written.then_some(next));
        }
        // The health changes (a failure counted, Failed, 410 → Disabled, a delivery after
        // failures): under the endpoint row's lock, with the core crate's rules, in one
        // transaction with the attempt. The sealed settings are not touched.
        let mut tx = self.pool.begin().await?;
        let applied = crate::health::apply(&mut tx, tenant, endpoint.id(), now, change).await?;
        if !record_attempt(&mut tx, id, tenant, endpoint.id(), delivery, due, lease).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let (tenant, endpoint) = (tenant.to_owned(), endpoint.id().to_owned());
        match applied.and_then(|a| a.notice) {
            Some(HealthNotice::Failed) => self.notify(Notice::EndpointFailed { tenant, endpoint }),
            Some(HealthNotice::Disabled) => {
                self.notify(Notice::EndpointDisabled { tenant, endpoint })
            }
            Some(HealthNotice::Recovered { after_failures }) => {
                self.notify(Notice::EndpointRecovered {
                    tenant,
                    endpoint,
                    after_failures,
                })
            }
            _ => {}
        }
        Ok(Some(next))
    }
}
