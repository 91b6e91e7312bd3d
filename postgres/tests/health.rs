//! Endpoint health in plain columns, on a real PostgreSQL started by the test: the worker
//! sets "Last Triggered"; a delivery that races a failure recorded meanwhile still resets the
//! failure count; rows from before migration 6 are filled in from their sealed settings.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use lms_webhooks::delivery::{GiveUpReason, Next};
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp};
use lms_webhooks_postgres::{MasterKey, Outbox, Worker};
use sqlx::Row;
use support::pg::Pg;
use support::store::{fresh_outbox, loopback, KEY};

fn transport() -> ReqwestTransport {
    ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(10))
        .unwrap()
        .with_policy(loopback())
        .unwrap()
}

async fn publish(pool: &sqlx::PgPool, outbox: &Outbox, n: usize) {
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..n {
        let envelope = Envelope::new(Event::sample(EventType::CrmContactTagAdded));
        outbox.publish(&mut tx, "t", &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// A loopback server that calls `before` with each request's number, then answers 200.
fn server(before: impl Fn(u32) + Send + 'static) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for (n, request) in server.incoming_requests().enumerate() {
            before(u32::try_from(n).unwrap());
            let _ = request.respond(tiny_http::Response::empty(200));
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_sets_last_triggered() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let url = server(|_| {});
    let (e, _) = Endpoint::create(Timestamp::now(), "crm", &url, &loopback()).unwrap();
    outbox.add_endpoint("t", &e, None).await.unwrap();
    assert_eq!(
        outbox
            .endpoint("t", "crm")
            .await
            .unwrap()
            .last_triggered_at(),
        None
    );
    publish(&pool, &outbox, 3).await;
    let before = Timestamp::now();
    let stats = Worker::new(outbox.clone(), transport())
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(stats.delivered, 3);
    let last = outbox
        .endpoint("t", "crm")
        .await
        .unwrap()
        .last_triggered_at();
    let latest: time::OffsetDateTime =
        sqlx::query("SELECT max(started_at) AS at FROM lmsw_attempts")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("at");
    let latest = Timestamp::try_from(latest).unwrap();
    let last = last.expect("Last Triggered is set");
    assert!(
        last >= before.checked_sub(Duration::from_secs(1)).unwrap(),
        "{last}"
    );
    // To the second: the worker writes it at most once a second per endpoint.
    assert!(latest.duration_since(last).unwrap_or_default() <= Duration::from_secs(1));
}

/// A failure recorded by another worker while this attempt was on the wire (after the claim
/// read the endpoint) is reset by this delivery: before, the worker compared with the
/// endpoint it had claimed, saw no change to write, and the count stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_racing_a_failure_still_resets_the_count() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let (during_tx, during) = mpsc::channel::<()>();
    let (go_tx, go) = mpsc::channel::<()>();
    let url = server(move |_| {
        let _ = during_tx.send(());
        let _ = go.recv_timeout(Duration::from_secs(10));
    });
    let (e, _) = Endpoint::create(Timestamp::now(), "crm", &url, &loopback()).unwrap();
    outbox.add_endpoint("t", &e, None).await.unwrap();
    publish(&pool, &outbox, 1).await;
    let worker =
        Worker::new(outbox.clone(), transport()).with_poll_interval(Duration::from_millis(20));
    let run = tokio::spawn(async move { worker.run_until_idle().await });
    tokio::task::spawn_blocking(move || during.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the request arrived");
    // Another worker's delivery to this endpoint gave up meanwhile.
    sqlx::query(
        "UPDATE lmsw_endpoints SET consecutive_failures = 1, failing_since = now()
         WHERE tenant = 't' AND id = 'crm'",
    )
    .execute(&pool)
    .await
    .unwrap();
    go_tx.send(()).unwrap();
    assert_eq!(run.await.unwrap().unwrap().delivered, 1);
    let health = outbox.endpoint("t", "crm").await.unwrap().health();
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.failing_since, None);
}

/// An endpoint row as written before migration 6 (no failure rule in its columns, health
/// only in its sealed settings) is filled in when an outbox opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_the_health_columns_are_filled_in_on_open() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let (mut e, _) =
        Endpoint::create(Timestamp::now(), "crm", "http://127.0.0.1:9/x", &loopback()).unwrap();
    for _ in 0..3 {
        e.record_result(Timestamp::now(), Next::GaveUp(GiveUpReason::Exhausted));
    }
    assert_eq!(e.health().consecutive_failures, 3);
    outbox.add_endpoint("t", &e, None).await.unwrap();
    sqlx::query(
        "UPDATE lmsw_endpoints SET consecutive_failures = 0, failing_since = NULL,
           failure_threshold = NULL, failing_period_secs = NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    let reopened = Outbox::open(pool.clone(), MasterKey::parse(KEY).unwrap())
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT consecutive_failures, failure_threshold, failing_since IS NOT NULL AS failing
         FROM lmsw_endpoints",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.get::<i32, _>("consecutive_failures"), 3);
    assert_eq!(
        row.get::<Option<i32>, _>("failure_threshold"),
        Some(i32::try_from(e.failure_threshold()).unwrap())
    );
    assert!(row.get::<bool, _>("failing"));
    // As the sealed settings said (to the microsecond PostgreSQL keeps).
    let millis = |t: Option<Timestamp>| t.map(Timestamp::truncated_to_millis);
    let (got, sealed) = (
        reopened.endpoint("t", "crm").await.unwrap().health(),
        e.health(),
    );
    assert_eq!(got.consecutive_failures, sealed.consecutive_failures);
    assert_eq!(millis(got.failing_since), millis(sealed.failing_since));
    assert_eq!(
        millis(got.last_triggered_at),
        millis(sealed.last_triggered_at)
    );
}
