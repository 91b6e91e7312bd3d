//! Operational events from a real worker, over real HTTP on loopback: an endpoint subscribed
//! to `operational.*` receives, signed, what the worker's notices say about the tenant's other
//! endpoints (failing, failed, disabled, recovered; deliveries exhausted), and nobody else
//! does: not a `*` endpoint, not another tenant, not the endpoint they are about.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lms_webhooks::delivery::SuccessRule;
use lms_webhooks::endpoint::EventFilter;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::{
    Endpoint, Envelope, Event, EventType, OperationalType, Profile, Receiver, Secret, Timestamp,
};
use lms_webhooks_postgres::{Notice, Outbox};
use support::pg::Pg;
use support::receiver::{recording, Requests};
use support::store::{fresh_outbox, loopback, worker};

/// Adds an endpoint answering `status()`, with no retries and `threshold` deliveries in a row
/// before it turns `Failed`, subscribed to `patterns`: its requests and its secret.
async fn endpoint(
    outbox: &Outbox,
    tenant: &str,
    id: &str,
    status: impl Fn() -> u16 + Send + 'static,
    threshold: u32,
    patterns: &[&str],
) -> (Requests, String) {
    let (url, requests) = recording(move || (status(), "ok"));
    let (e, secret) = Endpoint::create(Timestamp::now(), id, &url, &loopback()).unwrap();
    let e = e
        .with_delivery(RetrySchedule::none(), SuccessRule::Any2xx)
        .with_failure_rule(threshold, Duration::from_secs(86_400))
        .with_filter(EventFilter::parse(patterns.iter().copied()).unwrap());
    outbox.add_endpoint(tenant, &e, None).await.unwrap();
    (requests, secret.to_string())
}

/// Every request `requests` got, verified with `secret` and read.
fn received(requests: &Requests, secret: &str) -> Vec<Envelope> {
    let receiver = Receiver::new(Profile::standard()).with_secret(Secret::parse(secret).unwrap());
    requests
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, body)| {
            let got = receiver.receive(Timestamp::now(), headers, body).unwrap();
            Envelope::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", got.id))
        })
        .collect()
}

async fn publish(pool: &sqlx::PgPool, outbox: &Outbox, tenant: &str) -> Envelope {
    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, tenant, &sale).await.unwrap();
    tx.commit().await.unwrap();
    sale
}

async fn drain(outbox: &Outbox, notices: &Arc<Mutex<Vec<Notice>>>) {
    let seen = Arc::clone(notices);
    worker(outbox)
        .with_hook(move |n| seen.lock().unwrap().push(n))
        .run_until_idle()
        .await
        .unwrap();
}

/// (type, endpoint it is about) → how many.
fn tally(envelopes: &[Envelope]) -> BTreeMap<(String, String), usize> {
    let mut tally = BTreeMap::new();
    for e in envelopes {
        let data = serde_json::to_value(e).unwrap()["data"].clone();
        let about = data["endpoint_id"].as_str().unwrap_or("").to_owned();
        *tally
            .entry((e.event().type_str().to_owned(), about))
            .or_default() += 1;
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_receive_the_notices_signed_and_nobody_else_does() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let ops_types = ["operational.*"];
    let (ops, ops_secret) = endpoint(&outbox, "school", "ops", || 200, 5, &ops_types).await;
    let (all, all_secret) = endpoint(&outbox, "school", "all", || 200, 5, &["*"]).await;
    endpoint(&outbox, "school", "ep_fail", || 500, 2, &["*"]).await;
    endpoint(&outbox, "school", "ep_gone", || 410, 5, &["*"]).await;
    let flaky = Arc::new(AtomicU16::new(500));
    let k = Arc::clone(&flaky);
    let flaky_status = move || k.load(Ordering::SeqCst);
    endpoint(&outbox, "school", "ep_flaky", flaky_status, 5, &["*"]).await;
    // Another tenant's operations endpoint hears nothing of this one's endpoints; a tenant
    // with no operations endpoint gets no operational event written at all.
    let (elsewhere, _) = endpoint(&outbox, "other", "ops", || 200, 5, &ops_types).await;
    endpoint(&outbox, "quiet", "ep_fail", || 500, 1, &["*"]).await;

    let sales = [
        publish(&pool, &outbox, "school").await,
        publish(&pool, &outbox, "school").await,
    ];
    publish(&pool, &outbox, "quiet").await;
    let notices = Arc::new(Mutex::new(Vec::new()));
    drain(&outbox, &notices).await;

    let got = received(&ops, &ops_secret);
    let count = |t: OperationalType, about: &str| {
        tally(&got)
            .get(&(t.as_str().to_owned(), about.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    // ep_fail (2 in a row fail it): failing after the first, failed after the second, and
    // both deliveries exhausted. ep_gone: disabled by its 410 (a 410 is no exhausted schedule).
    // ep_flaky (5 in a row): failing, two exhausted.
    assert_eq!(
        count(OperationalType::EndpointFailing, "ep_fail"),
        1,
        "{got:?}"
    );
    assert_eq!(count(OperationalType::EndpointFailed, "ep_fail"), 1);
    assert_eq!(count(OperationalType::DeliveryExhausted, "ep_fail"), 2);
    assert_eq!(count(OperationalType::EndpointDisabled, "ep_gone"), 1);
    assert_eq!(count(OperationalType::DeliveryExhausted, "ep_gone"), 0);
    assert_eq!(count(OperationalType::EndpointFailing, "ep_flaky"), 1);
    assert_eq!(count(OperationalType::DeliveryExhausted, "ep_flaky"), 2);
    assert_eq!(got.len(), 8, "{:?}", tally(&got));
    assert!(got.iter().all(|e| e.event().operational_type().is_some()));
    // What they say: the event that was lost, its last status; the disabling status.
    let lost: Vec<serde_json::Value> = got
        .iter()
        .filter(|e| e.event().operational_type() == Some(OperationalType::DeliveryExhausted))
        .map(|e| serde_json::to_value(e).unwrap()["data"].clone())
        .collect();
    for data in &lost {
        assert!(sales.iter().any(|s| data["event_id"] == s.id().as_str()));
        assert_eq!(data["event_type"], "sales.transaction.completed");
        assert_eq!(data["attempts"], 1);
    }
    assert!(lost.iter().any(|d| d["last_status"] == 500));
    let failed = got
        .iter()
        .find(|e| e.event().operational_type() == Some(OperationalType::EndpointFailed))
        .map(|e| serde_json::to_value(e).unwrap()["data"].clone())
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["consecutive_failures"], 2);

    // The `*` endpoint got the platform events only; the other tenant nothing.
    let platform = received(&all, &all_secret);
    assert_eq!(platform.len(), 2);
    assert!(platform
        .iter()
        .all(|e| e.event().operational_type().is_none()));
    assert!(elsewhere.lock().unwrap().is_empty());
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lmsw_messages WHERE tenant = 'quiet' AND event_type LIKE 'operational.%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(written, 0);
    // The hook heard the same, `EndpointFailing` included.
    assert!(notices.lock().unwrap().contains(&Notice::EndpointFailing {
        tenant: "school".to_owned(),
        endpoint: "ep_fail".to_owned()
    }));

    // ep_flaky fixed: its next delivery recovers it, after 2 failures.
    flaky.store(200, Ordering::SeqCst);
    publish(&pool, &outbox, "school").await;
    drain(&outbox, &notices).await;
    let got = received(&ops, &ops_secret);
    assert_eq!(got.len(), 9, "{:?}", tally(&got));
    let recovered = got
        .iter()
        .find(|e| e.event().operational_type() == Some(OperationalType::EndpointRecovered))
        .map(|e| serde_json::to_value(e).unwrap()["data"].clone())
        .unwrap();
    assert_eq!(recovered["endpoint_id"], "ep_flaky");
    assert_eq!(recovered["after_failures"], 2);
    assert_eq!(recovered["status"], "active");
}

/// An operations endpoint that fails hears nothing of itself, and its own lost deliveries
/// publish nothing more (two failing operations endpoints do not report each other forever);
/// its health changes reach the other operations endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_operations_endpoint_makes_no_loop() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let ops = ["operational.*"];
    let (a, a_secret) = endpoint(&outbox, "school", "ops_a", || 500, 5, &ops).await;
    let (b, b_secret) = endpoint(&outbox, "school", "ops_b", || 500, 5, &ops).await;
    endpoint(&outbox, "school", "ep_fail", || 500, 5, &["sales.*"]).await;
    publish(&pool, &outbox, "school").await;
    let notices = Arc::new(Mutex::new(Vec::new()));
    drain(&outbox, &notices).await;
    // ep_fail: failing + exhausted, to both. Each operations endpoint then fails those two
    // deliveries: its own failing goes to the other one (once), its exhausted deliveries
    // publish nothing.
    for (requests, secret, other) in [(&a, &a_secret, "ops_b"), (&b, &b_secret, "ops_a")] {
        let got = tally(&received(requests, secret));
        let expected: BTreeMap<(String, String), usize> = [
            (("operational.delivery.exhausted", "ep_fail"), 1),
            (("operational.endpoint.failing", "ep_fail"), 1),
            (("operational.endpoint.failing", other), 1),
        ]
        .into_iter()
        .map(|((t, e), n)| ((t.to_owned(), e.to_owned()), n))
        .collect();
        assert_eq!(got, expected);
    }
}

/// An operational event that cannot be written (another endpoint's row of the tenant cannot
/// be read for the fan-out) is skipped: the attempt it reports is recorded all the same, and
/// the delivery is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operational_event_that_cannot_be_written_never_blocks_the_record() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    endpoint(&outbox, "school", "ops", || 200, 5, &["operational.*"]).await;
    let (failing, _) = endpoint(&outbox, "school", "ep_fail", || 500, 5, &["sales.*"]).await;
    publish(&pool, &outbox, "school").await;
    // Then what a publish reads of `ops` is gone (as before migration 9 filled it in).
    sqlx::query("UPDATE lmsw_endpoints SET patterns = NULL WHERE tenant = 'school' AND id = 'ops'")
        .execute(&pool)
        .await
        .unwrap();
    let notices = Arc::new(Mutex::new(Vec::new()));
    drain(&outbox, &notices).await;
    assert_eq!(
        failing.lock().unwrap().len(),
        1,
        "attempted once, not again"
    );
    let (state, operational): (String, i64) = sqlx::query_as(
        "SELECT (SELECT state FROM lmsw_deliveries WHERE endpoint_id = 'ep_fail'),
                (SELECT count(*) FROM lmsw_messages WHERE event_type LIKE 'operational.%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), operational), ("gave_up", 0));
    assert!(notices.lock().unwrap().contains(&Notice::EndpointFailing {
        tenant: "school".to_owned(),
        endpoint: "ep_fail".to_owned()
    }));
}
