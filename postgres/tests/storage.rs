//! What the outbox's tables weigh, on a real PostgreSQL started by the test: events of 16 KiB
//! to 3 endpoints that each answer 500 twice and then 200 leave every `lmsw_*` table together
//! (heap, TOAST, indexes, dead row versions included: no VACUUM) at most twice the bodies'
//! total size. Storage v1 weighed 19.4 times. `LMSW_STORAGE_EVENTS` sets the number of events
//! (default 200; CI runs 1,000) and `LMSW_STORAGE_KIB` the body size (default 16); the
//! figures are printed.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp};
use lms_webhooks_postgres::Worker;
use support::pg::Pg;
use support::store::{fresh_outbox, loopback, loopback_transport};

/// Answers 500 to the first two requests of each event at each path, then 200.
fn flaky() -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let counts: Arc<Mutex<HashMap<(String, String), u32>>> = Arc::default();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let id = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("webhook-id"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let key = (id, request.url().to_owned());
            let n = {
                let mut counts = counts.lock().unwrap();
                let n = counts.entry(key).or_default();
                *n += 1;
                *n
            };
            let status = if n <= 2 { 500 } else { 200 };
            let _ = request.respond(tiny_http::Response::empty(status));
        }
    });
    url
}

/// An event whose envelope is about `kib` KiB, with text that does not compress (as most bodies do
/// not compress much: the bound must hold without TOAST's help).
fn event_of(kib: usize, seed: u64) -> Envelope {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let text: String = (0..kib * 1000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect();
    let mut value =
        serde_json::to_value(Envelope::new(Event::sample(EventType::CrmContactTagAdded))).unwrap();
    value["data"]["note"] = serde_json::Value::String(text);
    Envelope::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tables_weigh_at_most_twice_the_bodies() {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let events = setting("LMSW_STORAGE_EVENTS", 200);
    let kib = setting("LMSW_STORAGE_KIB", 16) as usize;
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let base = flaky();
    for id in ["a", "b", "c"] {
        let url = format!("{base}/{id}");
        let (e, _) = Endpoint::create(Timestamp::now(), id, &url, &loopback()).unwrap();
        outbox.add_endpoint("t", &e, None).await.unwrap();
    }
    let mut bodies = 0u64;
    for chunk in (0..events).collect::<Vec<_>>().chunks(100) {
        let mut tx = pool.begin().await.unwrap();
        for &i in chunk {
            let envelope = event_of(kib, i);
            bodies += envelope.to_vec().unwrap().len() as u64;
            outbox.publish(&mut tx, "t", &envelope).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let transport = loopback_transport();
    let stats = Worker::new(outbox.clone(), transport)
        .with_concurrency(8)
        .with_poll_interval(Duration::from_millis(10))
        .with_clock(support::clock::fast(1_000))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(stats.delivered, events * 3);
    // Nine a event, and the odd one more when a pooled connection the receiver closed fails.
    assert!(stats.attempts >= events * 9, "{stats:?}");

    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_total_relation_size(c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND c.relname LIKE 'lmsw\\_%' AND n.nspname = 'public'
         ORDER BY 2 DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let total: i64 = sizes.iter().map(|(_, bytes)| bytes).sum();
    let ratio = total as f64 / bodies as f64;
    println!(
        "{events} events of {kib} KiB x 3 endpoints, {} attempts: bodies {} KiB, tables {} KiB \
         = {ratio:.2}x; {:.0} bytes per delivery and attempt beside the body",
        stats.attempts,
        bodies / 1024,
        total / 1024,
        (total as f64 - bodies as f64) / (events * 3 + stats.attempts) as f64
    );
    for (table, bytes) in &sizes {
        println!("  {table}: {} KiB", bytes / 1024);
    }
    // The bound is the issue's, for 16 KiB bodies; smaller ones are measured (each delivery
    // and attempt costs a few hundred bytes whatever its body).
    if kib >= 16 {
        assert!(
            ratio <= 2.0,
            "the tables weigh {ratio:.2}x the bodies: {sizes:?}"
        );
    }
}
