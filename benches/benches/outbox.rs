//! The PostgreSQL outbox against a minimal hand-written `SKIP LOCKED` loop (claim → POST →
//! update), with the same HTTP client, database and receiver, in one run; the latency from a
//! publish's commit to the first attempt, with `NOTIFY`; and the claim with a million finished
//! rows in the table.
//!
//! `cargo bench -p lms-webhooks-benches --bench outbox` (starts a private PostgreSQL, as the
//! tests do; `OUTBOX_EVENTS` events per figure, default 3,000).

#[path = "../../postgres/tests/support/pg.rs"]
mod pg;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Endpoint, Envelope, Event, EventType, SuccessRule, Timestamp, UrlPolicy};
use lms_webhooks_benches::serve;
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};
use sqlx::{PgPool, Row};

const PER_WORKER: usize = 8;

async fn fresh(pg: &pg::Pg) -> PgPool {
    let url = pg.fresh_database().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(80)
        .connect(&url)
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    pool
}

async fn outbox_with_endpoint(pool: &PgPool, url: &str) -> Outbox {
    let outbox = Outbox::open(
        pool.clone(),
        MasterKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap(),
    )
    .await
    .unwrap();
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let (e, _) = Endpoint::create(Timestamp::now(), "ep", url, &policy).unwrap();
    let e = e.with_delivery(RetrySchedule::standard_webhooks(), SuccessRule::Any2xx);
    outbox.add_endpoint("t", &e, None).await.unwrap();
    outbox
}

async fn publish_all(outbox: &Outbox, events: usize) {
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let mut tx = outbox.pool().begin().await.unwrap();
        for _ in chunk {
            let e = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
            outbox.publish(&mut tx, "t", &e).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
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

/// The outbox's workers draining `events` deliveries: deliveries per second.
async fn outbox_rate(pg: &pg::Pg, url: &str, workers: usize, events: usize) -> f64 {
    let pool = fresh(pg).await;
    let outbox = outbox_with_endpoint(&pool, url).await;
    publish_all(&outbox, events).await;
    let started = Instant::now();
    let mut runs = Vec::new();
    for _ in 0..workers {
        let worker = Worker::new(outbox.clone(), transport())
            .with_concurrency(PER_WORKER)
            .with_poll_interval(Duration::from_millis(50));
        runs.push(tokio::spawn(async move { worker.run_until_idle().await }));
    }
    let mut delivered = 0;
    for run in runs {
        delivered += run.await.unwrap().unwrap().delivered;
    }
    assert_eq!(delivered as usize, events);
    let rate = events as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    rate
}

/// The hand-written loop: the same rows' shape, the same client, pre-signed bytes.
async fn hand_rate(pg: &pg::Pg, url: &str, workers: usize, events: usize) -> f64 {
    let pool = fresh(pg).await;
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
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers * PER_WORKER {
        let (pool, client, url) = (pool.clone(), client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
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
                let Some(row) = claimed else { return };
                let id: i64 = row.get("id");
                let body: Vec<u8> = row.get("body");
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
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
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    rate
}

/// From a publish's commit to the receiver seeing the request, with idle workers woken by
/// `NOTIFY`: (p50, p99) in milliseconds.
async fn notify_latency(pg: &pg::Pg, url: &str, arrivals: Arc<Mutex<Vec<Instant>>>) -> (f64, f64) {
    let pool = fresh(pg).await;
    let outbox = outbox_with_endpoint(&pool, url).await;
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

/// The claim query's mean time, in milliseconds, over 200 claims of an empty queue.
async fn claim_ms(pool: &PgPool) -> f64 {
    let started = Instant::now();
    for _ in 0..200 {
        sqlx::query(
            "UPDATE lmsw_deliveries SET lease_owner = 'bench', lease_until = now()
             WHERE id = (SELECT id FROM lmsw_deliveries WHERE state = 'pending' AND next_due <= now()
               AND (lease_until IS NULL OR lease_until < now()) ORDER BY next_due LIMIT 1
               FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .fetch_optional(pool)
        .await
        .unwrap();
    }
    started.elapsed().as_secs_f64() * 1000.0 / 200.0
}

fn main() {
    let events: usize = std::env::var("OUTBOX_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = pg::Pg::start();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(serve(listener));

        println!("| workers | hand-written loop | outbox workers | outbox / hand-written |");
        println!("|---:|---:|---:|---:|");
        for workers in [1, 2, 4] {
            let hand = hand_rate(&pg, &url, workers, events).await;
            let ours = outbox_rate(&pg, &url, workers, events).await;
            println!(
                "| {workers} | {hand:.0}/s | {ours:.0}/s | {:.2}× |",
                ours / hand
            );
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

        let pool = fresh(&pg).await;
        let empty = claim_ms(&pool).await;
        sqlx::query(
            "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, delivery, finished_at)
             SELECT 't', 'evt_' || g, 'ep', 'done', '\\x00', now() FROM generate_series(1, 1000000) g",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE lmsw_deliveries").execute(&pool).await.unwrap();
        let full = claim_ms(&pool).await;
        println!("claim of the next due delivery: {empty:.2} ms on an empty table, {full:.2} ms with 1,000,000 finished rows");
    });
}
