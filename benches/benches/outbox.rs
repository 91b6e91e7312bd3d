//! The PostgreSQL outbox against a minimal hand-written `SKIP LOCKED` loop (claim → sign →
//! POST → update), with the same HTTP client, database and receiver, in one run, the outbox's
//! deliveries spread over `OUTBOX_ENDPOINTS` endpoints (default 10, each with the default cap
//! of 4 in flight, or `OUTBOX_CAP`); the latency from a
//! publish's commit to the first attempt, with `NOTIFY`; and the claim with a million finished
//! rows in the table.
//!
//! `cargo bench -p lms-webhooks-benches --bench outbox` (starts a private PostgreSQL, as the
//! tests do). Each figure runs its workers as separate processes (this bench binary started
//! again, one per worker), the hand-written loop and the outbox alternating, `OUTBOX_ROUNDS`
//! times each (default 3); the medians are printed. `OUTBOX_EVENTS` deliveries per figure
//! (default 10,000), `OUTBOX_WORKERS` the worker counts (default `1,2,4`); `OUTBOX_EXTRAS=0`
//! measures the throughput only; `OUTBOX_TRACE=1` has each worker process print its timings
//! and its claims (how many, how many deliveries they leased) to stderr.

#[path = "../../postgres/tests/support/pg.rs"]
mod pg;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Endpoint, Envelope, Event, EventType, SuccessRule, Timestamp, UrlPolicy};
use lms_webhooks_benches::serve;
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};
use sha2::Sha256;
use sqlx::{PgPool, Row};

const PER_WORKER: usize = 8;

static T0: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// A fresh database with the outbox's tables: its URL and a pool on it.
async fn fresh(pg: &pg::Pg) -> (String, PgPool) {
    let url = pg.fresh_database().await;
    let pool = connect(&url, 80).await;
    migrate(&pool).await.unwrap();
    (url, pool)
}

async fn connect(url: &str, connections: u32) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(url)
        .await
        .unwrap()
}

const MASTER_KEY: &str = "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";

async fn open(pool: &PgPool) -> Outbox {
    Outbox::open(pool.clone(), MasterKey::parse(MASTER_KEY).unwrap())
        .await
        .unwrap()
}

/// The outbox with `endpoints` endpoints of one tenant, all at `url`, each with the default
/// cap on deliveries in flight.
async fn outbox_with_endpoints(pool: &PgPool, url: &str, endpoints: usize) -> Outbox {
    let outbox = open(pool).await;
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    for n in 0..endpoints {
        let (e, _) = Endpoint::create(Timestamp::now(), format!("ep{n}"), url, &policy).unwrap();
        let e = e.with_delivery(RetrySchedule::standard_webhooks(), SuccessRule::Any2xx);
        outbox.add_endpoint("t", &e, None).await.unwrap();
        if let Some(cap) = std::env::var("OUTBOX_CAP")
            .ok()
            .and_then(|c| c.parse().ok())
        {
            outbox
                .set_max_in_flight("t", &format!("ep{n}"), cap)
                .await
                .unwrap();
        }
    }
    outbox
}

/// `deliveries` deliveries: one event per endpoint's worth.
async fn publish_all(outbox: &Outbox, deliveries: usize, endpoints: usize) {
    let events = deliveries / endpoints;
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let mut tx = outbox.pool().begin().await.unwrap();
        for _ in chunk {
            let e = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
            outbox.publish(&mut tx, "t", &e).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

/// CPU seconds used so far by this process and its finished children, and by PostgreSQL (its
/// live processes and the backends it has reaped).
fn cpu() -> (f64, f64) {
    fn seconds(stat: &str) -> f64 {
        // After "pid (comm) ": state is field 3; utime, stime, cutime, cstime are 14–17.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return 0.0;
        };
        let f: Vec<&str> = after.split(' ').collect();
        f[11..15]
            .iter()
            .map(|t| t.parse::<f64>().unwrap_or(0.0))
            .sum::<f64>()
            / 100.0
    }
    let me = seconds(&std::fs::read_to_string("/proc/self/stat").unwrap());
    let mut pg = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            if stat.contains("(postgres)") {
                pg += seconds(&stat);
            }
        }
    }
    (me, pg)
}

fn transport() -> ReqwestTransport {
    ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))
        .unwrap()
        .with_policy(
            UrlPolicy::new()
                .with_http_allowed(true)
                .with_private_allowed(true),
        )
        .unwrap()
}

/// One figure: deliveries per second, and CPU microseconds per delivery (the workers and the
/// receiver; PostgreSQL).
#[derive(Clone, Copy)]
struct Figure {
    rate: f64,
    cpu: f64,
    pg_cpu: f64,
}

/// Starts `workers` processes of this binary in `role` on `db`, waits for them all, and
/// measures the whole.
fn run_workers(role: &str, db: &str, url: &str, workers: usize, events: usize) -> Figure {
    let exe = std::env::current_exe().unwrap();
    // The setup's connections were closed: let their backends exit (and be counted) first.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu();
    let started = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|_| {
            std::process::Command::new(&exe)
                .env("OUTBOX_CHILD", role)
                .env("OUTBOX_DB", db)
                .env("OUTBOX_URL", url)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut delivered = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{role} worker failed");
        delivered += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = cpu();
    assert_eq!(delivered, events, "{role}: every delivery made once");
    Figure {
        rate: events as f64 / elapsed,
        cpu: (after.0 - before.0) * 1e6 / events as f64,
        pg_cpu: (after.1 - before.1) * 1e6 / events as f64,
    }
}

/// The outbox's workers draining `events` deliveries.
async fn outbox_figure(
    pg: &pg::Pg,
    url: &str,
    workers: usize,
    events: usize,
    endpoints: usize,
) -> Figure {
    let (db, pool) = fresh(pg).await;
    let outbox = outbox_with_endpoints(&pool, url, endpoints).await;
    publish_all(&outbox, events, endpoints).await;
    pool.close().await;
    let (db, url) = (db.clone(), url.to_owned());
    tokio::task::spawn_blocking(move || run_workers("outbox", &db, &url, workers, events))
        .await
        .unwrap()
}

/// The hand-written loop on the same rows' shape, with pre-signed bytes.
async fn hand_figure(pg: &pg::Pg, url: &str, workers: usize, events: usize) -> Figure {
    let (db, pool) = fresh(pg).await;
    sqlx::query(
        "CREATE TABLE hw_jobs (id bigserial PRIMARY KEY, body bytea NOT NULL, done boolean NOT NULL DEFAULT false,
           lease_until timestamptz)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("CREATE INDEX hw_due ON hw_jobs (id) WHERE NOT done")
        .execute(&pool)
        .await
        .unwrap();
    let body = Envelope::new(Event::sample(EventType::SalesTransactionCompleted))
        .to_vec()
        .unwrap();
    sqlx::query("INSERT INTO hw_jobs (body) SELECT $1 FROM generate_series(1, $2)")
        .bind(&body)
        .bind(events as i32)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (db, url) = (db.clone(), url.to_owned());
    tokio::task::spawn_blocking(move || run_workers("hand", &db, &url, workers, events))
        .await
        .unwrap()
}

/// A child process: one outbox worker until idle; prints how many it delivered.
async fn outbox_child(db: &str) -> u64 {
    let t = Instant::now();
    let pool = connect(db, 80).await;
    let worker = Worker::new(open(&pool).await, transport())
        .with_concurrency(PER_WORKER)
        .with_poll_interval(Duration::from_millis(50));
    let opened = t.elapsed();
    let stats = worker.run_until_idle().await.unwrap();
    if std::env::var("OUTBOX_TRACE").is_ok() {
        eprintln!(
            "outbox child: opened {opened:?}, ran {:?}, {} claims leased {}",
            t.elapsed() - opened,
            stats.claims,
            stats.claimed
        );
    }
    stats.delivered
}

/// A child process: `PER_WORKER` hand-written loops (claim one, sign, POST, mark it done).
async fn hand_child(db: &str, url: &str) -> u64 {
    let _ = *T0;
    let pool = connect(db, PER_WORKER as u32 + 1).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..PER_WORKER {
        let (pool, client, url) = (pool.clone(), client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut delivered = 0;
            loop {
                let claimed = sqlx::query(
                    "UPDATE hw_jobs SET lease_until = now() + interval '60 seconds'
                     WHERE id = (SELECT id FROM hw_jobs WHERE NOT done
                       AND (lease_until IS NULL OR lease_until < now())
                       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING id, body",
                )
                .fetch_optional(&pool)
                .await
                .unwrap();
                let Some(row) = claimed else {
                    if std::env::var("OUTBOX_TRACE").is_ok() {
                        eprintln!("hand loop: done at {:?}", T0.elapsed());
                    }
                    return delivered;
                };
                let id: i64 = row.get("id");
                let body: Vec<u8> = row.get("body");
                // Signed as Standard Webhooks, as the outbox signs.
                let (msg_id, ts) = (format!("msg_{id}"), Timestamp::now().unix().to_string());
                let mut mac =
                    Hmac::<Sha256>::new_from_slice(b"a-hand-written-loop-key-32-bytes").unwrap();
                mac.update(msg_id.as_bytes());
                mac.update(b".");
                mac.update(ts.as_bytes());
                mac.update(b".");
                mac.update(&body);
                let signature = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", msg_id)
                    .header("webhook-timestamp", ts)
                    .header("webhook-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let ok = response.status().is_success();
                let _ = response.bytes().await;
                sqlx::query("UPDATE hw_jobs SET done = $2, lease_until = NULL WHERE id = $1")
                    .bind(id)
                    .bind(ok)
                    .execute(&pool)
                    .await
                    .unwrap();
                delivered += u64::from(ok);
            }
        }));
    }
    let mut delivered = 0;
    for t in tasks {
        delivered += t.await.unwrap();
    }
    delivered
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// From a publish's commit to the receiver seeing the request, with idle workers woken by
/// `NOTIFY`: (p50, p99) in milliseconds.
async fn notify_latency(pg: &pg::Pg, url: &str, arrivals: Arc<Mutex<Vec<Instant>>>) -> (f64, f64) {
    let (_, pool) = fresh(pg).await;
    let outbox = outbox_with_endpoints(&pool, url, 1).await;
    let worker = Worker::new(outbox.clone(), transport())
        .with_concurrency(4)
        .with_poll_interval(Duration::from_secs(5));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..200 {
        arrivals.lock().unwrap().clear();
        let mut tx = pool.begin().await.unwrap();
        let e = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
        outbox.publish(&mut tx, "t", &e).await.unwrap();
        tx.commit().await.unwrap();
        let committed = Instant::now();
        let arrived = loop {
            if let Some(&at) = arrivals.lock().unwrap().first() {
                break at;
            }
            assert!(
                committed.elapsed() < Duration::from_secs(10),
                "never arrived"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latencies.push(arrived.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Publishing `events` events to `endpoints` endpoints in transactions of 100, in
/// microseconds per event: through `publish`, and as bare INSERTs of the same rows (the
/// message, then its deliveries in one multi-row INSERT) into the same tables.
async fn publish_us(pg: &pg::Pg, url: &str, endpoints: usize, events: usize) -> (f64, f64) {
    let envelopes: Vec<Envelope> = (0..events)
        .map(|_| Envelope::new(Event::sample(EventType::SalesTransactionCompleted)))
        .collect();
    let (_, pool) = fresh(pg).await;
    let outbox = outbox_with_endpoints(&pool, url, endpoints).await;
    let started = Instant::now();
    for chunk in envelopes.chunks(100) {
        let mut tx = pool.begin().await.unwrap();
        for e in chunk {
            outbox.publish(&mut tx, "t", e).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let ours = started.elapsed().as_secs_f64() * 1e6 / events as f64;

    let (_, pool) = fresh(pg).await;
    let ids: Vec<String> = (0..endpoints).map(|n| format!("ep{n}")).collect();
    let started = Instant::now();
    for chunk in envelopes.chunks(100) {
        let mut tx = pool.begin().await.unwrap();
        for e in chunk {
            let body = e.to_vec().unwrap();
            sqlx::query(
                "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
                 VALUES ('t', $1, $2, now(), $3)",
            )
            .bind(e.id().as_str())
            .bind(e.event().type_str())
            .bind(&body)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due, seed)
                 SELECT 't', $1, ep, 'pending', now(), 0 FROM unnest($2::text[]) AS ep",
            )
            .bind(e.id().as_str())
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let bare = started.elapsed().as_secs_f64() * 1e6 / events as f64;
    (ours, bare)
}

/// The claim's mean time, in milliseconds, over 200 claims of 8 when nothing is due, planned
/// as a worker's connections plan it.
async fn claim_ms(pool: &PgPool) -> f64 {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..200 {
        sqlx::query(
            "SELECT * FROM lmsw_claim(NULL, NULL, NULL, 'bench#1', 8, 60, now(), true, NULL)",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    }
    started.elapsed().as_secs_f64() * 1000.0 / 200.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var("OUTBOX_CHILD") {
        let db = std::env::var("OUTBOX_DB").unwrap();
        let url = std::env::var("OUTBOX_URL").unwrap();
        let delivered = runtime.block_on(async {
            match role.as_str() {
                "outbox" => outbox_child(&db).await,
                _ => hand_child(&db, &url).await,
            }
        });
        println!("{delivered}");
        return;
    }
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let endpoints = setting("OUTBOX_ENDPOINTS", 10).max(1);
    let events = setting("OUTBOX_EVENTS", 10_000) / endpoints * endpoints;
    let rounds = setting("OUTBOX_ROUNDS", 3).max(1);
    let counts: Vec<usize> = std::env::var("OUTBOX_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let pg = pg::Pg::start();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(serve(listener));

        println!("| worker processes | hand-written loop | outbox workers | outbox / hand-written | CPU per delivery, hand-written (workers + receiver / PostgreSQL) | CPU per delivery, outbox |");
        println!("|---:|---:|---:|---:|---:|---:|");
        for workers in counts {
            let (mut hand, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                hand.push(hand_figure(&pg, &url, workers, events).await);
                ours.push(outbox_figure(&pg, &url, workers, events, endpoints).await);
            }
            let of = |figures: &[Figure], f: fn(&Figure) -> f64| median(figures.iter().map(f).collect());
            let (h, o) = (of(&hand, |f| f.rate), of(&ours, |f| f.rate));
            println!(
                "| {workers} | {h:.0}/s | {o:.0}/s | {:.2}× | {:.0} µs / {:.0} µs | {:.0} µs / {:.0} µs |",
                o / h,
                of(&hand, |f| f.cpu),
                of(&hand, |f| f.pg_cpu),
                of(&ours, |f| f.cpu),
                of(&ours, |f| f.pg_cpu),
            );
        }

        if setting("OUTBOX_EXTRAS", 1) == 0 {
            return;
        }
        // Latency needs a receiver that notes arrivals.
        let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let noted = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
        let sink = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                sink.lock().unwrap().push(Instant::now());
                let _ = request.respond(tiny_http::Response::empty(200));
            }
        });
        let (p50, p99) = notify_latency(&pg, &noted, arrivals).await;
        println!("\npublish commit → first attempt (NOTIFY, idle workers): p50 {p50:.1} ms, p99 {p99:.1} ms");

        for endpoints in [1, 10] {
            let (ours, bare) = publish_us(&pg, &url, endpoints, 2_000).await;
            println!(
                "publish, {endpoints} endpoint(s), 2,000 events in transactions of 100: {ours:.0} µs per event, bare INSERTs of the same rows {bare:.0} µs ({:.2}×)",
                ours / bare
            );
        }

        let (_, pool) = fresh(&pg).await;
        let empty = claim_ms(&pool).await;
        sqlx::query(
            "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
             SELECT 't', 'evt_' || g, 'webhook.test', now(), '\\x00'
             FROM generate_series(1, 1000000) g",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, finished_at)
             SELECT 't', 'evt_' || g, 'ep', 'done', now() FROM generate_series(1, 1000000) g",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE lmsw_deliveries").execute(&pool).await.unwrap();
        let full = claim_ms(&pool).await;
        println!("a claim (pick and take, nothing due): {empty:.2} ms on an empty table, {full:.2} ms with 1,000,000 finished rows");
    });
}
