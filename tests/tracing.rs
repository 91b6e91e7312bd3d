//! The `tracing` feature: one `webhook attempt` event per attempt a transport runs and one
//! `webhook received` event per request a receiver takes, with their fields, and never a
//! secret, a signature or a body (the captured JSON lines are searched for them).

#![cfg(feature = "tracing")]

#[path = "support/log.rs"]
mod log;

use std::cell::Cell;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use lms_webhooks::delivery::{Delivery, Next, Outcome};
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::signature::Message;
use lms_webhooks::transport::{attempt_blocking, BlockingTransport};
use lms_webhooks::{
    Endpoint, Envelope, Event, EventType, Profile, Receiver, SuccessRule, Timestamp, UrlPolicy,
};

/// Answers 500, then 200, and keeps the signature headers it was sent.
#[derive(Default)]
struct Answers {
    signatures: Mutex<Vec<String>>,
}

impl BlockingTransport for Answers {
    fn send(&self, request: http::Request<Bytes>) -> Outcome {
        let mut signatures = self.signatures.lock().unwrap();
        let signature = request.headers()["webhook-signature"].to_str().unwrap();
        signatures.push(signature.to_owned());
        match signatures.len() {
            1 => Outcome::status(500),
            _ => Outcome::status(200),
        }
    }
}

#[test]
fn attempts_and_receipts_are_traced_without_secrets_signatures_or_bodies() {
    let captured = log::Captured::default();
    let _guard = tracing_subscriber::util::SubscriberInitExt::set_default(
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_writer(captured.clone())
            .finish(),
    );

    // Sending: a 500, then a 200 at the retry's due time.
    let now = Timestamp::from_unix(1_800_000_000).unwrap();
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let (endpoint, shown) = Endpoint::create(now, "crm", "http://127.0.0.1:9/in", &policy).unwrap();
    let secret = lms_webhooks::Secret::parse(&shown).unwrap();
    let endpoint = endpoint.with_delivery(
        RetrySchedule::fixed([Duration::from_secs(60)]),
        SuccessRule::Any2xx,
    );
    let envelope = Envelope::new(Event::sample(EventType::CrmContactTagAdded));
    let body = envelope.to_vec().unwrap();
    let mut delivery = Delivery::new(now, envelope.id().as_str(), "crm", body.clone());
    let answers = Answers::default();
    let clock = Cell::new(now);
    let now_of = || clock.get();
    let first = attempt_blocking(&mut delivery, &endpoint.target(now), &answers, &now_of).unwrap();
    let Next::RetryAt(due) = first else {
        panic!("{first:?}")
    };
    clock.set(due);
    let second = attempt_blocking(&mut delivery, &endpoint.target(due), &answers, &now_of).unwrap();
    assert_eq!(second, Next::Done);

    // Receiving: the same body signed, then with a signature by another secret.
    let profile = Profile::standard();
    let message = Message::new(envelope.id().as_str(), now, &body);
    let headers = profile
        .scheme()
        .sign(std::slice::from_ref(&secret), &message)
        .unwrap();
    let receiver = Receiver::new(profile.clone()).with_secret(secret.clone());
    receiver.receive(now, &headers, &body).unwrap();
    let other = lms_webhooks::Secret::generate_standard().unwrap();
    let forged = profile
        .scheme()
        .sign(std::slice::from_ref(&other), &message)
        .unwrap();
    receiver.receive(now, &forged, &body).unwrap_err();

    let (text, lines) = captured.read();
    let events = |message: &str| log::events(&lines, message);

    let attempts = events("webhook attempt");
    assert_eq!(attempts.len(), 2, "{text}");
    for (fields, (number, status, outcome)) in attempts
        .iter()
        .zip([(1, 500, "retry"), (2, 200, "delivered")])
    {
        assert_eq!(fields["endpoint"], "crm");
        assert_eq!(fields["event"], envelope.id().as_str());
        assert_eq!(fields["attempt"], number);
        assert_eq!(fields["status"], status);
        assert_eq!(fields["outcome"], outcome);
        assert!(fields["duration_ms"].is_u64(), "{fields}");
    }
    let received = events("webhook received");
    assert_eq!(received.len(), 2, "{text}");
    assert_eq!(received[0]["profile"], "standard");
    assert_eq!(received[0]["event"], envelope.id().as_str());
    assert_eq!(received[0]["event_type"], "crm.contact.tag_added");
    assert_eq!(received[0]["secret_index"], 0);
    assert_eq!(received[1]["reason"], "signature");
    assert_eq!(received[1]["status"], 401);

    // Nothing secret or private: the secrets, the signatures sent and forged, the body.
    let mut hidden = vec![
        secret.expose_text().to_string(),
        other.expose_text().to_string(),
        String::from_utf8(body.clone()).unwrap(),
    ];
    hidden.extend(answers.signatures.lock().unwrap().iter().cloned());
    for map in [&headers, &forged] {
        hidden.push(map["webhook-signature"].to_str().unwrap().to_owned());
    }
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let data = serde_json::to_string(&parsed["data"]).unwrap();
    hidden.push(data);
    for secret_text in &hidden {
        assert!(
            !text.contains(secret_text.as_str()),
            "{secret_text} is in the log"
        );
    }
    // And no fragment of a signature either (their base64 after `v1,`).
    for signature in answers.signatures.lock().unwrap().iter() {
        let mac = signature.trim_start_matches("v1,");
        assert!(
            !text.contains(&mac[..12]),
            "a signature's start is in the log"
        );
    }
}
