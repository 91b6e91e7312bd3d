//! Sender and receiver end to end over real HTTP on loopback, for every platform profile.
#![cfg(feature = "ureq")]

#[path = "../examples/support/inbound.rs"]
mod inbound;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
use lms_webhooks::delivery::{Delivery, Next};
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::{Received, Receiver};
use lms_webhooks::transport::{attempt_blocking, UreqTransport};
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Secret, Timestamp};

/// What the server reports per request: (first time seen, what was received), or the status.
type Report = Result<(bool, Received), u16>;

/// A loopback receiver: verifies, dedupes, answers 200 (or the error's status) and reports.
fn serve(receiver: Receiver, requests: usize) -> (String, mpsc::Receiver<Report>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let seen = MemoryDeduplicator::new(1000, Duration::from_secs(3600));
        for _ in 0..requests {
            let Ok(Some(mut request)) = server.recv_timeout(Duration::from_secs(10)) else {
                return;
            };
            let (headers, body) = inbound::read(&mut request);
            let (status, report) = match receiver.receive(Timestamp::now(), &headers, &body) {
                Ok(got) => {
                    let lease = Duration::from_secs(30);
                    let claim = seen.claim(Timestamp::now(), "e2e", &got.id, lease);
                    if let Claim::Claimed(token) = claim {
                        seen.commit(Timestamp::now(), "e2e", &got.id, token);
                    }
                    (200, Ok((matches!(claim, Claim::Claimed(_)), got)))
                }
                Err(e) => (e.http_status().as_u16(), Err(e.http_status().as_u16())),
            };
            let _ = request.respond(tiny_http::Response::empty(status));
            let _ = tx.send(report);
        }
    });
    (url, rx)
}

fn deliver(
    profile: &Profile,
    url: &str,
    secret: &Secret,
    key: Option<&EncryptionKey>,
    envelope: &Envelope,
) -> Next {
    let loopback = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let mut target = profile
        .target(loopback.clone().check(url).unwrap())
        .with_secret(secret.clone());
    if let Some(key) = key {
        target = target.with_encryption(key.clone());
    }
    let body = profile.render(envelope).unwrap();
    let mut d = Delivery::new(Timestamp::now(), envelope.id().as_str(), "ep_e2e", body);
    let transport = UreqTransport::default().with_policy(loopback);
    attempt_blocking(&mut d, &target, &transport, &Timestamp::now).unwrap()
}

#[test]
fn every_profile_end_to_end_with_duplicates_detected() {
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let cases = [
        (
            Profile::standard(),
            Secret::generate_standard().unwrap(),
            None,
            EventType::SalesTransactionCompleted,
        ),
        (
            Profile::learnybox(),
            Secret::from_key(*key.expose_bytes()).unwrap(),
            Some(key.clone()),
            EventType::SalesTransactionRefunded,
        ),
        (
            Profile::learnworlds("school_1"),
            Secret::parse("v1=4f3c2b1a09e8d7c6b5a49382716f5e4d").unwrap(),
            None,
            EventType::CourseMemberCompleted,
        ),
        (
            Profile::learnink(),
            Secret::generate_standard().unwrap(),
            None,
            EventType::NotificationsSent,
        ),
        (
            Profile::learnomy(),
            Secret::generate_alphanumeric().unwrap(),
            None,
            EventType::CrmContactTagAdded,
        ),
    ];
    for (profile, secret, key, event_type) in cases {
        let mut receiver = Receiver::new(profile.clone()).with_secret(secret.clone());
        if let Some(k) = &key {
            receiver = receiver.with_key(k.clone());
        }
        let (url, reports) = serve(receiver, 2);
        let envelope = Envelope::new(Event::sample(event_type));
        // The same event twice, as a retry would send it.
        for expect_first in [true, false] {
            assert_eq!(
                deliver(&profile, &url, &secret, key.as_ref(), &envelope),
                Next::Done,
                "{}",
                profile.name()
            );
            let (first, got) = reports
                .recv()
                .unwrap()
                .unwrap_or_else(|s| panic!("{}: {s}", profile.name()));
            assert_eq!(first, expect_first, "{}", profile.name());
            assert_eq!(got.event, *envelope.event(), "{}", profile.name());
        }
    }
}

#[test]
fn a_wrong_secret_is_refused_over_http_and_retried() {
    let profile = Profile::standard();
    let (url, reports) = serve(
        Receiver::new(profile.clone()).with_secret(Secret::generate_standard().unwrap()),
        1,
    );
    let envelope = Envelope::new(Event::sample(EventType::WebhookTest));
    let next = deliver(
        &profile,
        &url,
        &Secret::generate_standard().unwrap(),
        None,
        &envelope,
    );
    assert!(matches!(next, Next::RetryAt(_)));
    assert_eq!(reports.recv().unwrap().unwrap_err(), 401);
}
