//! What the outbox tells the host's `tracing` subscriber, captured as JSON lines from a real
//! run (PostgreSQL, a receiver on loopback that answers 500 once, then 200): the publish and
//! each attempt with their fields, and never the secret, the signature or the body.

#[path = "../../tests/support/log.rs"]
mod log;
mod support;

use std::time::Duration;

use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::{Endpoint, Envelope, Event, Secret, SuccessRule, Timestamp};
use lms_webhooks_postgres::Worker;
use support::pg::Pg;
use support::store::{fresh_outbox, loopback, loopback_transport};

// One thread: every task the worker spawns logs to this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_the_fields_and_no_secret_signature_or_body() {
    let captured = log::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
