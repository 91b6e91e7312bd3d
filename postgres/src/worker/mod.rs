//! Workers: claim due deliveries fairly under a lease, send outside any transaction, and write
//! the outcome, the attempt and the endpoint's status in one.

mod attempt;
mod claim;
mod notice;
mod operational;
mod slots;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lms_webhooks::delivery::Delivery;
use lms_webhooks::endpoint::Health;
use lms_webhooks::transport::{Clock, SystemClock, Transport};
use lms_webhooks::{Endpoint, Timestamp};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::sql::CHANNEL;
use crate::{Outbox, StoreError};

pub(crate) use claim::{PICK, TAKE};
use notice::Counters;
pub use notice::{Hook, Notice, WorkerStats};
use slots::{Slot, Slots};
use writer::{Recorder, Refilling, Refills, Shared, RECENT};

/// A worker: any number of them, in any number of processes, share one outbox.
///
/// It claims due deliveries with a lease, fairly: one call (`lmsw_claim`) leases, round-robin
/// across the endpoints least recently served, at most each endpoint's free share of its cap
/// on deliveries in flight ([`Outbox::set_max_in_flight`]), as many as the worker has room
/// for (it leases ahead of its send slots when requests are quick). It builds each request
/// from the endpoint as it is now, when a send slot is free, sends it
/// outside any transaction, then writes the outcome, the attempt row and the next due time in
/// one statement, and the endpoint's status with them in one transaction when it changes. At
/// most `concurrency` requests are on the wire at once; while outcomes are being written (in
/// groups: the outcomes that arrive during one write go in the next), the next requests go
/// out, and while the queue has more, each group's write leases the next deliveries into the
/// room it frees, in the same round trip. A worker that dies mid-attempt loses nothing: when its lease expires another worker
/// takes the delivery (at least once; the event id is the receivers' deduplication key).
/// Workers wake on `NOTIFY` from a publish, and poll as a fallback.
///
/// It sends with any [`Transport`]: `lms_webhooks::transport::ReqwestTransport` (the URL
/// policy enforced at connect time; the `reqwest` feature, on by default) in production, a
/// fake one in tests.
pub struct Worker<T> {
    outbox: Outbox,
    /// The worker's own connections (see [`Worker::new`]).
    pool: PgPool,
    transport: Arc<T>,
    owner: String,
    concurrency: usize,
    lease: Duration,
    poll: Duration,
    outage: Duration,
    /// Where the worker reads the time (see [`Worker::with_clock`]).
    clock: Arc<dyn Clock + Send + Sync>,
    /// Endpoints unsealed lately, by tenant and id, with the sealed bytes they came from: a
    /// claim that brings the same bytes reuses the endpoint (and its built target) instead of
    /// decrypting it again. Any edit changes the bytes (a fresh IV), so nothing stale is used.
    unsealed: Arc<std::sync::Mutex<Unsealed>>,
    hook: Option<Hook>,
    /// When deliveries of deleted endpoints were last looked for.
    swept: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// When a claim last looked for expired leases.
    expiry_checked: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// How often the queue and endpoint gauges are sampled, if they are.
    gauges: Option<Duration>,
}

impl<T> Clone for Worker<T> {
    fn clone(&self) -> Worker<T> {
        Worker {
            outbox: self.outbox.clone(),
            pool: self.pool.clone(),
            transport: Arc::clone(&self.transport),
            owner: self.owner.clone(),
            concurrency: self.concurrency,
            lease: self.lease,
            poll: self.poll,
            outage: self.outage,
            clock: Arc::clone(&self.clock),
            unsealed: Arc::clone(&self.unsealed),
            hook: self.hook.clone(),
            swept: Arc::clone(&self.swept),
            expiry_checked: Arc::clone(&self.expiry_checked),
            gauges: self.gauges,
        }
    }
}

impl<T> std::fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .field("poll", &self.poll)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// Endpoints by (tenant, id), with the sealed bytes each was opened from.
type Unsealed = HashMap<(String, String), (Vec<u8>, Endpoint)>;

/// The worker's own pool, lazily connected: see [`Worker::new`].
fn worker_pool(outbox: &Outbox, concurrency: usize) -> PgPool {
    let options = (*outbox.pool().connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency * 2 + 4).unwrap_or(u32::MAX))
        .connect_lazy_with(options)
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

/// What the two claimers of a running worker share.
#[derive(Clone, Copy)]
struct Claims<'a> {
    slots: &'a Slots,
    wake: &'a Notify,
    stop: &'a watch::Sender<bool>,
    counters: &'a Arc<Counters>,
    recorder: &'a Recorder,
    refills: &'a Refills,
    refilling: &'a Refilling,
}

/// How long `run_until_idle`'s claims lease nothing before it asks whether the queue is done.
const QUIET: Duration = Duration::from_millis(50);

static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

/// Numbers the claims of this process: with the worker's name, each claim's lease token.
static NEXT_CLAIM: AtomicU64 = AtomicU64::new(0);

impl<T: Transport + 'static> Worker<T> {
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
    pub fn new(outbox: Outbox, transport: T) -> Worker<T> {
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
            clock: Arc::new(SystemClock),
            unsealed: Arc::default(),
            hook: None,
            swept: Arc::default(),
            expiry_checked: Arc::default(),
            gauges: None,
        }
    }

    /// Attempts at once in this worker.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Worker<T> {
        self.concurrency = n.max(1);
        self.pool = worker_pool(&self.outbox, self.concurrency);
        self
    }

    /// How long a claimed delivery is this worker's without news (60 s unless set). An
    /// attempt that takes longer extends its lease (a heartbeat every third of it) instead of
    /// letting another worker claim the delivery again; a worker that stalls past it loses
    /// the delivery, and its late outcome is not written over the new claim's.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Worker<T> {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// How often to look for due deliveries when no notification comes.
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> Worker<T> {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// How long the database may stay away before the worker gives up and returns its error
    /// (60 s unless set). Meanwhile it retries, backing off; leased deliveries are safe (their
    /// leases expire and they are attempted again). Nothing else stops a worker: a delivery
    /// that cannot be attempted is parked ([`Notice::DeliveryParked`]).
    #[must_use]
    pub fn with_outage_limit(mut self, limit: Duration) -> Worker<T> {
        self.outage = limit;
        self
    }

    /// Reads the time from `clock` instead of the system clock ([`SystemClock`]): tests and
    /// simulations run the worker on a fake clock (any `Fn() -> Timestamp` is one).
    ///
    /// The clock decides everything a delivery's schedule decides: when a delivery is due (the
    /// claim compares `next_due` with it), the attempts' times, the retry times (the next
    /// attempt is due at the clock's now plus the schedule's delay), the give-up windows and the
    /// endpoint's health times. Leases, rate-limit buckets and retention stay on the database's
    /// time: they fence and meter real processes, and every process reads the same database. A
    /// clock that runs ahead of real time (as the `outbox worker --speedup N` test aid's does)
    /// makes retries come sooner; one that stands still makes nothing fall due again.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Worker<T> {
        self.clock = Arc::new(clock);
        self
    }

    /// The time on the worker's clock.
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Samples the queue (deliveries by state, the oldest due one's wait) and the endpoints
    /// (by status) into the [`meter`](crate::meter) gauges every `interval` while the worker
    /// runs: two small queries each time, off the indexes. Off unless set: the counters and
    /// histograms of attempts are recorded whatever this says (through the `metrics` facade,
    /// to the recorder the host installed, if any).
    #[must_use]
    pub fn with_queue_gauges(mut self, interval: Duration) -> Worker<T> {
        self.gauges = Some(interval.max(Duration::from_millis(100)));
        self
    }

    /// Calls `hook` with operational [`Notice`]s: an endpoint is failing, failed, was disabled
    /// or recovered, a delivery gave up or was parked.
    ///
    /// Whatever the hook, the worker also publishes them as operational events
    /// (`operational.endpoint.failing`, `.failed`, `.disabled`, `.recovered`,
    /// `operational.delivery.exhausted`; see `lms_webhooks::OperationalEvent`) to the tenant's
    /// endpoints that subscribe to them by name (`operational.*`; `*` does not include them),
    /// never to the endpoint they are about, in the transaction that records what they report.
    #[must_use]
    pub fn with_hook(mut self, hook: impl Fn(Notice) + Send + Sync + 'static) -> Worker<T> {
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
        let sampler = self.gauges.map(|every| {
            let pool = self.pool.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = crate::meter::sample(&pool).await {
                        tracing::debug!(error = %e, "queue gauges not sampled");
                    }
                    tokio::time::sleep(every).await;
                }
            })
        });
        let shutdown = async move {
            match shutdown {
                Some(shutdown) => shutdown.await,
                None => std::future::pending().await,
            }
        };
        let mut shutdown = std::pin::pin!(shutdown);
        let (stop, _) = watch::channel(false);
        let slots = Slots::new(self.concurrency);
        let refilling = Arc::new(Refilling::new());
        let (recorder, refills) = self.start_recorder(Shared {
            slots: slots.clone(),
            stop: stop.subscribe(),
            counters: Arc::clone(&counters),
            refilling: Arc::clone(&refilling),
        });
        let claims = Claims {
            slots: &slots,
            wake: &wake,
            stop: &stop,
            counters: &counters,
            recorder: &recorder,
            refills: &refills,
            refilling: &refilling,
        };
        // Two claimers share the slots, so that one's claim is under way while the other's
        // deliveries start: a claim is a round trip, and attempts end one by one. The writer
        // of outcomes claims too, the room that its writes free, and hands what it leased to
        // whichever claimer waits.
        let claimers = async {
            let (a, b) = tokio::join!(
                self.dispatch(&claims, until_idle),
                self.dispatch(&claims, until_idle),
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
        // The writer claims nothing more; what it leased before it knew is attempted.
        let _ = stop.send(true);
        let rest = self.finish(&claims).await;
        waker.abort();
        if let Some(sampler) = sampler {
            sampler.abort();
        }
        result.and(rest)?;
        Ok(WorkerStats {
            attempts: counters.attempts.load(Ordering::Relaxed),
            delivered: counters.delivered.load(Ordering::Relaxed),
            gave_up: counters.gave_up.load(Ordering::Relaxed),
            held: counters.held.load(Ordering::Relaxed),
            lost_leases: counters.lost_leases.load(Ordering::Relaxed),
            parked: counters.parked.load(Ordering::Relaxed),
            claims: counters.claims.load(Ordering::Relaxed),
            claimed: counters.claimed.load(Ordering::Relaxed),
        })
    }

    /// Claims as many due deliveries as there are free slots, in one statement, and runs each
    /// as its own task, with those the writer's claims leased. On shutdown, or when an attempt
    /// fails for good, stops claiming and lets the attempts in flight finish.
    async fn dispatch(&self, claims: &Claims<'_>, until_idle: bool) -> Result<(), StoreError> {
        let Claims {
            slots,
            wake,
            stop,
            counters,
            recorder,
            refills,
            refilling,
        } = *claims;
        let mut stopped = stop.subscribe();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error = None;
        let mut failures = 0u32;
        let mut outage_since = None;
        // When a claim of this loop last leased something (see `run_until_idle` below).
        let mut last_leased = std::time::Instant::now();
        // Whether a publish's `NOTIFY` woke this loop: new work, which the writer's claims
        // would only find at its next write.
        let mut told = false;
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
            // While the writer claims with each write, the room that ends of leases free is
            // its to fill (see `Refilling::by_writer`), unless a publish just woke this loop.
            let by_writer = refilling.by_writer() && !std::mem::take(&mut told);
            let mut free = if by_writer {
                Vec::new()
            } else {
                slots.take_free()
            };
            if !free.is_empty() {
                match self.claim(free.len()).await {
                    Ok(claimed) => {
                        counters.claims.fetch_add(1, Ordering::Relaxed);
                        counters
                            .claimed
                            .fetch_add(claimed.len() as u64, Ordering::Relaxed);
                        failures = 0;
                        outage_since = None;
                        drained = claimed.len() < free.len();
                        if !claimed.is_empty() {
                            last_leased = std::time::Instant::now();
                        }
                        refilling.claimed(claimed.len());
                        for (claim, slot) in claimed.into_iter().zip(free.drain(..)) {
                            self.start(&mut in_flight, claim, slot, counters, recorder);
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
            if drained {
                // A lost connection here is the claims' business: they time outages.
                let _ = self.sweep().await;
            }
            // `run_until_idle`: whether the whole queue is done is asked only once this loop's
            // claims have leased nothing for a moment (`QUIET`): a claim that found every due
            // endpoint at its cap or locked by other workers' claims comes back empty while
            // the queue is far from done, and the question reads every queued and leased
            // index entry, those that deliveries left since the last VACUUM included.
            let quiet = last_leased.elapsed() >= QUIET;
            if drained && until_idle && in_flight.is_empty() && quiet && self.idle().await? {
                break;
            }
            // Nothing more due for now, or not enough free slots: wait for an attempt to end,
            // a notification, the next poll, or the shutdown.
            let wait = match until_idle {
                // Wake for the next due retry, however near.
                true if !quiet => QUIET,
                true => self.poll.min(Duration::from_millis(100)),
                false => self.poll,
            };
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                Some(refill) = async { refills.lock().await.recv().await } => {
                    last_leased = std::time::Instant::now();
                    for (claim, slot) in refill {
                        self.start(&mut in_flight, claim, slot, counters, recorder);
                    }
                }
                () = freed, if !drained => {}
                // Left to the writer: look again once its claims may have stopped.
                () = tokio::time::sleep(RECENT), if by_writer => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(e) = joined(done) {
                        first_error = Some(e);
                        break;
                    }
                }
                woken = tokio::time::timeout(wait, notified),
                    if drained || in_flight.is_empty() || by_writer => {
                    told = woken.is_ok();
                }
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

    /// Starts `claim`'s attempt in `slot`, as a task of `in_flight`.
    fn start(
        &self,
        in_flight: &mut tokio::task::JoinSet<Result<(), StoreError>>,
        claim: Claimed,
        slot: Slot,
        counters: &Arc<Counters>,
        recorder: &Recorder,
    ) {
        let (me, counters, recorder) = (self.clone(), Arc::clone(counters), recorder.clone());
        // What the attempt logs carries its delivery.
        let span = tracing::debug_span!(
            "webhook_delivery",
            tenant = %claim.tenant,
            endpoint = %claim.endpoint_id,
            delivery = claim.id,
        );
        in_flight.spawn(
            async move { me.attempt(claim, slot, &counters, &recorder).await }.instrument(span),
        );
    }

    /// Once the claimers have stopped (and the writer with them): attempts the deliveries the
    /// writer leased meanwhile, as the claimers let theirs finish.
    async fn finish(&self, claims: &Claims<'_>) -> Result<(), StoreError> {
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error = None;
        loop {
            while let Ok(refill) = claims.refills.lock().await.try_recv() {
                for (claim, slot) in refill {
                    self.start(
                        &mut in_flight,
                        claim,
                        slot,
                        claims.counters,
                        claims.recorder,
                    );
                }
            }
            match in_flight.join_next().await {
                Some(done) => {
                    if let Err(e) = joined(done) {
                        first_error.get_or_insert(e);
                    }
                }
                None => break,
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn idle(&self) -> Result<bool, StoreError> {
        let busy: bool = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM lmsw_deliveries
                            WHERE state = 'pending' AND lease_owner IS NULL)
                 OR EXISTS (SELECT 1 FROM lmsw_deliveries
                            WHERE lease_owner IS NOT NULL AND state = 'pending') AS busy",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("busy")?;
        Ok(!busy)
    }
}
