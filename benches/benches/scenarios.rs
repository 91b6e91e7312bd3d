//! Fairness, measured: the outbox on a real PostgreSQL (started privately, as the tests do)
//! with receivers on loopback, one worker of 8 slots (`worker --concurrency 8`).
//!
//! - (a) an endpoint that takes 2 s per request with 200 deliveries queued, and a fast endpoint
//!   of another tenant that gets 20 deliveries published after them: the fast ones'
//!   publish-to-delivered latency, and how the slow one drains meanwhile (its most requests at
//!   once, and its rate);
//! - (b) the same with both endpoints in one tenant, subscribed to the same events;
//! - (c) a noisy tenant with `SCENARIO_NOISE` deliveries queued (default 20,000, over 10
//!   endpoints that answer at once) and a quiet tenant publishing one event at a time: the
//!   quiet one's latency.
//!
//! `cargo bench -p lms-webhooks-benches --bench scenarios`; CI runs it small
//! (`SCENARIO_NOISE=2000 SCENARIO_SLOW_MS=500`). Throughput against a hand-written loop is the
//! `outbox` bench. Latencies are from the publish's commit to the request's arrival.

#[path = "../../postgres/tests/support/pg.rs"]
mod pg;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp, UrlPolicy};
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};
use sqlx::PgPool;
use tokio::sync::watch;

const MASTER_KEY: &str = "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";

/// A receiver on loopback that answers 200 after `delay`, on up to 64 requests at once, and
/// notes when each event id arrived and how many requests it held at most.
#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    count: Arc<AtomicUsize>,
    holding: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Receiver {
    fn start(delay: Duration) -> (Receiver, String) {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
        let me = Receiver::default();
        for _ in 0..64 {
            let (server, me) = (Arc::clone(&server), me.clone());
            std::thread::spawn(move || {
                while let Ok(mut request) = server.recv() {
                    let now = Instant::now();
                    let held = me.holding.fetch_add(1, Ordering::SeqCst) + 1;
                    me.most.fetch_max(held, Ordering::SeqCst);
                    let id = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("webhook-id"))
                        .map(|h| h.value.as_str().to_owned())
                        .unwrap_or_default();
                    let mut body = Vec::new();
                    let _ = std::io::Read::read_to_end(request.as_reader(), &mut body);
                    me.arrivals.lock().unwrap().entry(id).or_insert(now);
                    me.count.fetch_add(1, Ordering::SeqCst);
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    me.holding.fetch_sub(1, Ordering::SeqCst);
                    let _ = request.respond(tiny_http::Response::empty(200));
                }
            });
        }
        (me, url)
    }

    fn arrived(&self, id: &str) -> Option<Instant> {
        self.arrivals.lock().unwrap().get(id).copied()
    }
}

async fn fresh(pg: &pg::Pg) -> (PgPool, Outbox) {
    let url = pg.fresh_database().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(40)
        .connect(&url)
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    let outbox = Outbox::open(pool.clone(), MasterKey::parse(MASTER_KEY).unwrap())
        .await
        .unwrap();
    (pool, outbox)
}

async fn add(outbox: &Outbox, tenant: &str, id: &str, url: &str) {
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let (e, _) = Endpoint::create(Timestamp::now(), id, url, &policy).unwrap();
    outbox.add_endpoint(tenant, &e, None).await.unwrap();
}

/// Publishes `n` events for `tenant`, 500 per transaction.
async fn backlog(pool: &PgPool, outbox: &Outbox, tenant: &str, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..left.min(500) {
            let e = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
            outbox.publish(&mut tx, tenant, &e).await.unwrap();
        }
        tx.commit().await.unwrap();
        left = left.saturating_sub(500);
    }
}

/// Publishes one event for `tenant` in its own transaction: its id and when it committed.
async fn publish_one(pool: &PgPool, outbox: &Outbox, tenant: &str) -> (String, Instant) {
    let e = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, tenant, &e).await.unwrap();
    tx.commit().await.unwrap();
    (e.id().as_str().to_owned(), Instant::now())
}

/// A worker of 8 slots, running until the returned sender says stop.
fn worker(outbox: &Outbox) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))
        .unwrap()
        .with_policy(
            UrlPolicy::new()
                .with_http_allowed(true)
                .with_private_allowed(true),
        )
        .unwrap();
    let worker = Worker::new(outbox.clone(), transport).with_concurrency(8);
    let (stop, mut stopped) = watch::channel(false);
    let handle = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
    });
    (stop, handle)
}

/// Waits for every `(id, published)` at `receiver` (at most 60 s); their latencies in ms.
async fn latencies(receiver: &Receiver, published: &[(String, Instant)]) -> Vec<f64> {
    let started = Instant::now();
    loop {
        let arrived: Vec<f64> = published
            .iter()
            .filter_map(|(id, at)| {
                receiver
                    .arrived(id)
                    .map(|a| a.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        if arrived.len() == published.len() {
            let mut arrived = arrived;
            arrived.sort_by(f64::total_cmp);
            return arrived;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {} arrived",
            arrived.len(),
            published.len()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// (a) and (b): a slow endpoint's backlog, then a fast endpoint's deliveries.
async fn slow_and_fast(pg: &pg::Pg, same_tenant: bool, slow_ms: u64) -> String {
    let (pool, outbox) = fresh(pg).await;
    let (slow, slow_url) = Receiver::start(Duration::from_millis(slow_ms));
    let (fast, fast_url) = Receiver::start(Duration::ZERO);
    let fast_tenant = if same_tenant {
        "school"
    } else {
        "other_school"
    };
    add(&outbox, "school", "slow", &slow_url).await;
    backlog(&pool, &outbox, "school", 200).await;
    add(&outbox, fast_tenant, "fast", &fast_url).await;
    let (stop, handle) = worker(&outbox);
    // The slow endpoint busy first.
    let started = Instant::now();
    while slow.holding.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut published = Vec::new();
    for _ in 0..20 {
        published.push(publish_one(&pool, &outbox, fast_tenant).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lat = latencies(&fast, &published).await;
    // Then the slow one, watched for a while more: it keeps draining at its cap.
    tokio::time::sleep(Duration::from_millis(slow_ms * 3)).await;
    let slow_done = slow.count.load(Ordering::SeqCst);
    let rate = slow_done as f64 / started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    // The attempts in flight finish (a slow request at most).
    handle.await.unwrap();
    format!(
        "| ({}) slow endpoint ({} ms per request, 200 queued) + fast endpoint, {} | 20 | {:.0} ms | {:.0} ms | {:.0} ms | slow: {} at once at most, {:.1}/s |",
        if same_tenant { "b" } else { "a" },
        slow_ms,
        if same_tenant { "same tenant, same events" } else { "another tenant" },
        quantile(&lat, 0.5),
        quantile(&lat, 0.99),
        lat[lat.len() - 1],
        slow.most.load(Ordering::SeqCst),
        rate,
    )
}

/// (c): a noisy tenant's backlog, a quiet tenant's events one at a time.
async fn noisy_and_quiet(pg: &pg::Pg, noise: usize) -> String {
    let (pool, outbox) = fresh(pg).await;
    let (noisy, noisy_url) = Receiver::start(Duration::ZERO);
    let (quiet, quiet_url) = Receiver::start(Duration::ZERO);
    for n in 0..10 {
        add(&outbox, "noisy", &format!("ep{n}"), &noisy_url).await;
    }
    backlog(&pool, &outbox, "noisy", noise / 10).await;
    add(&outbox, "quiet", "ep", &quiet_url).await;
    let (stop, handle) = worker(&outbox);
    while noisy.count.load(Ordering::SeqCst) < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut published = Vec::new();
    for _ in 0..10 {
        let one = publish_one(&pool, &outbox, "quiet").await;
        latencies(&quiet, std::slice::from_ref(&one)).await;
        published.push(one);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lat = latencies(&quiet, &published).await;
    let left = noise.saturating_sub(noisy.count.load(Ordering::SeqCst));
    stop.send(true).unwrap();
    handle.await.unwrap();
    format!(
        "| (c) noisy tenant ({noise} queued over 10 endpoints) + quiet tenant, one event at a time | 10 | {:.0} ms | {:.0} ms | {:.0} ms | noisy: {left} still queued at the end |",
        quantile(&lat, 0.5),
        quantile(&lat, 0.99),
        lat[lat.len() - 1],
    )
}

fn main() {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let noise = setting("SCENARIO_NOISE", 20_000) as usize;
    let slow_ms = setting("SCENARIO_SLOW_MS", 2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = pg::Pg::start();
    runtime.block_on(async {
        println!(
            "| scenario (one worker, `--concurrency 8`) | measured | p50 | p99 | max | meanwhile |"
        );
        println!("|---|---:|---:|---:|---:|---|");
        println!("{}", slow_and_fast(&pg, false, slow_ms).await);
        println!("{}", slow_and_fast(&pg, true, slow_ms).await);
        println!("{}", noisy_and_quiet(&pg, noise).await);
    });
}
