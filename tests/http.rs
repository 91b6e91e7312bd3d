//! Real HTTP on loopback: the `ureq` transport against a `tiny_http` server started in the test.
#![cfg(feature = "ureq")]

#[path = "../examples/support/inbound.rs"]
mod inbound;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, GiveUpReason, Next, Target};
use lms_webhooks::delivery::{Outcome, SuccessRule};
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::signature::Verifier;
use lms_webhooks::transport::{attempt_blocking, BlockingTransport, UreqTransport};
use lms_webhooks::{Envelope, Event, EventType, Scheme, Secret, Timestamp};

/// What the server saw of one request.
struct Seen {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A loopback server answering the scripted statuses in turn (`0` = never answer); the
/// requests it saw come back on the channel.
fn server(script: Vec<(u16, Vec<(&'static str, &'static str)>)>) -> (String, mpsc::Receiver<Seen>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for (status, headers) in script {
            let Ok(Some(mut request)) = server.recv_timeout(Duration::from_secs(10)) else {
                return;
            };
            let (seen_headers, body) = inbound::read(&mut request);
            let _ = tx.send(Seen {
                headers: seen_headers,
                body,
            });
            if status == 0 {
                held.push(request); // never answered
                continue;
            }
            let mut response = tiny_http::Response::from_string("ack").with_status_code(status);
            for (name, value) in headers {
                response.add_header(tiny_http::Header::from_bytes(name, value).unwrap());
            }
            let _ = request.respond(response);
        }
        thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    (url, rx)
}

fn secret() -> Secret {
    Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
}

fn delivery(url: &str, success: SuccessRule) -> (Delivery, Target, Envelope) {
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let loopback = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let target = Target::new(loopback.check(url).unwrap())
        .with_secret(secret())
        .with_retry(RetrySchedule::learnybox())
        .with_success(success);
    let d = Delivery::new(
        Timestamp::now(),
        envelope.id().as_str(),
        "ep_loopback",
        envelope.to_bytes().unwrap(),
    );
    (d, target, envelope)
}

fn transport() -> UreqTransport {
    UreqTransport::new(Duration::from_secs(2), Duration::from_millis(800)).with_policy(
        UrlPolicy::new()
            .with_http_allowed(true)
            .with_private_allowed(true),
    )
}

#[test]
fn ok_is_done() {
    let (url, rx) = server(vec![(200, vec![])]);
    let (mut d, t, envelope) = delivery(&url, SuccessRule::Any2xx);
    let next = attempt_blocking(&mut d, &t, &transport(), &Timestamp::now).unwrap();
    assert_eq!(next, Next::Done);
    let seen = rx.recv().unwrap();
    assert_eq!(Envelope::from_slice(&seen.body).unwrap(), envelope);
    let Outcome::Response { status, body, .. } = &d.attempts()[0].outcome else {
        panic!()
    };
    assert_eq!((*status, body.as_str()), (200, "ack"));
}

#[test]
fn two_failures_then_success_with_the_same_id_and_fresh_valid_signatures() {
    let (url, rx) = server(vec![(500, vec![]), (500, vec![]), (200, vec![])]);
    let (mut d, t, envelope) = delivery(&url, SuccessRule::Any2xx);
    let transport = transport();
    // A simulated clock: each attempt one scheduled delay after the previous.
    let mut now = Timestamp::now();
    let mut nexts = Vec::new();
    loop {
        let clock = move || now;
        let next = attempt_blocking(&mut d, &t, &transport, &clock).unwrap();
        nexts.push(next);
        match next {
            Next::RetryAt(t) => now = t,
            _ => break,
        }
    }
    assert_eq!(nexts.len(), 3);
    assert_eq!(nexts[2], Next::Done);
    let verifier = Verifier::new(Scheme::standard(), [secret()]);
    let mut timestamps = Vec::new();
    for _ in 0..3 {
        let seen = rx.recv().unwrap();
        let header = |n: &str| {
            seen.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("webhook-id"), envelope.id().as_str());
        let ts: i64 = header("webhook-timestamp").parse().unwrap();
        let ok = verifier
            .verify(Timestamp::from_unix(ts).unwrap(), &seen.headers, &seen.body)
            .unwrap();
        assert_eq!(ok.id.as_deref(), Some(envelope.id().as_str()));
        timestamps.push(ts);
    }
    assert!(
        timestamps[0] < timestamps[1] && timestamps[1] < timestamps[2],
        "{timestamps:?}"
    );
}

#[test]
fn created_is_a_failure_under_exactly_200() {
    let (url, _rx) = server(vec![(201, vec![])]);
    let (mut d, t, _) = delivery(&url, SuccessRule::Exactly200);
    let next = attempt_blocking(&mut d, &t, &transport(), &Timestamp::now).unwrap();
    assert!(matches!(next, Next::RetryAt(_)), "{next:?}");
    assert_eq!(d.attempts()[0].outcome.status_code(), Some(201));
}

#[test]
fn gone_gives_up_and_asks_to_disable() {
    let (url, _rx) = server(vec![(410, vec![])]);
    let (mut d, t, _) = delivery(&url, SuccessRule::Any2xx);
    let next = attempt_blocking(&mut d, &t, &transport(), &Timestamp::now).unwrap();
    assert_eq!(next, Next::GaveUp(GiveUpReason::Gone));
}

#[test]
fn a_server_that_never_answers_is_a_recorded_timeout() {
    let (url, _rx) = server(vec![(0, vec![])]);
    let (mut d, t, _) = delivery(&url, SuccessRule::Any2xx);
    let next = attempt_blocking(&mut d, &t, &transport(), &Timestamp::now).unwrap();
    assert!(matches!(next, Next::RetryAt(_)));
    assert_eq!(d.attempts()[0].outcome, Outcome::Timeout);
}

#[test]
fn redirects_are_not_followed() {
    let (url, rx) = server(vec![(
        302,
        vec![("Location", "http://127.0.0.1:9/elsewhere")],
    )]);
    let (mut d, t, _) = delivery(&url, SuccessRule::Any2xx);
    let next = attempt_blocking(&mut d, &t, &transport(), &Timestamp::now).unwrap();
    assert!(matches!(next, Next::RetryAt(_)));
    assert_eq!(d.attempts()[0].outcome.status_code(), Some(302));
    rx.recv().unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "a second request was made"
    );
}

#[test]
fn retry_after_from_a_real_429() {
    let (url, _rx) = server(vec![(429, vec![("Retry-After", "120")])]);
    let (mut d, t, _) = delivery(&url, SuccessRule::Any2xx);
    let now = Timestamp::from_unix(1_900_000_000).unwrap();
    let next = attempt_blocking(&mut d, &t, &transport(), &move || now).unwrap();
    assert_eq!(
        next,
        Next::RetryAt(Timestamp::from_unix(1_900_000_120).unwrap())
    );
}

#[test]
fn a_closed_port_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let (mut d, t, _) = delivery(&url, SuccessRule::Any2xx);
    let outcome = transport().send(d.next_request(Timestamp::now(), &t).unwrap());
    assert!(matches!(outcome, Outcome::Error { .. }), "{outcome:?}");
}
