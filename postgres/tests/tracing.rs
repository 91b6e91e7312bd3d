//! What the outbox tells the host's `tracing` subscriber, captured as JSON lines from a real
//! run (PostgreSQL, a receiver on loopback that answers 500 once, then 200): the publish and
//! each attempt with their fields, and never the secret, the signature or the body; and, read
//! from the worker's `trace` events, who claims while a cap holds the claims short.

#[path = "../../tests/support/log.rs"]
mod log;
mod support;

use std::time::Duration;

use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::{Endpoint, Envelope, Event, Secret, SuccessRule, Timestamp};
use lms_webhooks_postgres::Worker;
use support::pg::Pg;
use support::receiver::recording;
use support::store::{fresh_outbox, loopback, loopback_transport};

/// This thread's events up to `level`, as JSON lines (with the current span), until the guard
/// drops.
fn capture(level: tracing::Level) -> (log::Captured, tracing::subscriber::DefaultGuard) {
    let captured = log::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_writer(captured.clone())
        .finish();
    (
        captured.clone(),
        tracing::subscriber::set_default(subscriber),
    )
}

// One thread: every task the worker spawns logs to this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_the_fields_and_no_secret_signature_or_body() {
    let (captured, _guard) = capture(tracing::Level::DEBUG);

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 8).await;
    // A receiver that refuses the first request and takes the second; it keeps the
    // signatures it was sent.
    let (url, signatures) = support::receiver::refusing_once();
    let secret = Secret::generate_standard().unwrap();
    let (endpoint, _) = Endpoint::create(Timestamp::now(), "crm", &url, &loopback()).unwrap();
    let endpoint = endpoint
        .with_signing(
            lms_webhooks::Profile::standard().scheme().clone(),
            secret.clone(),
        )
        .with_delivery(
            RetrySchedule::fixed([Duration::from_millis(200)]),
            SuccessRule::Any2xx,
        );
    outbox
        .add_endpoint("school", &endpoint, None)
        .await
        .unwrap();

    let marker = "body-marker-4c6f72656d";
    let event = Event::custom("custom.note.added", serde_json::json!({ "note": marker })).unwrap();
    let envelope = Envelope::new(event);
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, "school", &envelope).await.unwrap();
    tx.commit().await.unwrap();

    let transport = loopback_transport();
    let stats = Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!((stats.attempts, stats.delivered), (2, 1));

    let (text, lines) = captured.read();
    let messages = |m: &str| log::events(&lines, m);
    let published = messages("webhook event published");
    assert_eq!(published.len(), 1, "{text}");
    assert_eq!(published[0]["tenant"], "school");
    assert_eq!(published[0]["event"], envelope.id().as_str());
    assert_eq!(published[0]["event_type"], "custom.note.added");
    assert_eq!(published[0]["deliveries"], 1);

    let attempts = messages("webhook attempt");
    assert_eq!(attempts.len(), 2, "{text}");
    for (a, (number, status, outcome)) in attempts
        .iter()
        .zip([(1, 500, "retry"), (2, 200, "delivered")])
    {
        assert_eq!(a["tenant"], "school");
        assert_eq!(a["endpoint"], "crm");
        assert_eq!(a["event"], envelope.id().as_str());
        assert_eq!(a["attempt"], number);
        assert_eq!(a["status"], status);
        assert_eq!(a["outcome"], outcome);
        assert!(a["duration_ms"].is_u64(), "{a}");
    }
    // The attempts' lines sit in their delivery's span.
    let in_span = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook attempt")
        .all(|l| l["span"]["name"] == "webhook_delivery" && l["span"]["tenant"] == "school");
    assert!(in_span, "{text}");

    // Nothing secret or private.
    let signatures = signatures.lock().unwrap().clone();
    assert_eq!(signatures.len(), 2);
    let secret_text = secret.expose_text();
    let key = secret_text.trim_start_matches("whsec_");
    for forbidden in [&*secret_text, key, marker]
        .into_iter()
        .chain(signatures.iter().map(String::as_str))
        .chain(signatures.iter().map(|s| s.trim_start_matches("v1,")))
    {
        assert!(!text.contains(forbidden), "the log holds {forbidden:?}");
    }
}

/// A worker whose claims come back short because the endpoint is at its cap (a backlog behind
/// a cap of one, four slots asking) still has each write claim the room it frees: the writer's
/// grouped write leases the next delivery in the same round trip, where it used to leave the
/// room to the next claim whenever the last claim had leased fewer deliveries than it asked
/// for; and the dispatchers, whose claims would find the cap taken, leave the claiming to it.
#[tokio::test(flavor = "current_thread")]
async fn a_write_claims_the_room_it_frees_while_a_cap_holds_claims_short() {
    let (captured, _guard) = capture(tracing::Level::TRACE);

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 8).await;
    let (url, requests) = recording(|| (200, ""));
    let (endpoint, _) = Endpoint::create(Timestamp::now(), "one", &url, &loopback()).unwrap();
    outbox.add_endpoint("t", &endpoint, None).await.unwrap();
    outbox.set_max_in_flight("t", "one", 1).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..30 {
        let event = lms_webhooks::Event::sample(lms_webhooks::EventType::SalesTransactionCompleted);
        outbox
            .publish(&mut tx, "t", &Envelope::new(event))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let stats = Worker::new(outbox.clone(), loopback_transport())
        .with_concurrency(4)
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!((stats.delivered, requests.lock().unwrap().len()), (30, 30));
    let (text, lines) = captured.read();
    let claims = log::events(&lines, "webhook claim");
    assert!(!claims.is_empty(), "{text}");
    assert!(
        claims
            .iter()
            .all(|c| c["leased"].as_u64() < c["wanted"].as_u64()),
        "every claim asks for more than the cap of one: {claims:?}"
    );
    let writes = log::events(&lines, "webhook outcomes written, claim");
    let refilled = writes.iter().filter(|w| w["leased"] == 1).count();
    assert!(
        refilled >= 3,
        "writes that leased the next delivery: {refilled} of {writes:?}"
    );
    // Meanwhile the dispatchers leave the claiming to the writer: about one claim per
    // delivery when they claimed at every end of an attempt (45 to 51 in runs over a transport
    // that answers at once, all but a few finding the cap taken), 5 or 6 now.
    assert!(
        claims.len() < 20,
        "the dispatchers claimed {} times for 30 deliveries",
        claims.len()
    );
}
