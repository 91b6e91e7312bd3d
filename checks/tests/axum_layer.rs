//! The axum layer (`WebhookReceiver::layer`) and the `VerifiedWebhook` extractor: at least
//! once, handled once per success. A genuine request reaches the handler; a copy of a handled
//! event is answered 200 without it; a handler that fails, panics or dies lets the next copy
//! through; a copy that arrives while another is handled is answered 409 with `Retry-After`;
//! unsigned, oversized and trickling bodies are refused without being read (or read past the
//! limit).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::dedupe::MemoryDeduplicator;
use lms_webhooks::signature::Message;
use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret, Timestamp};
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;

/// What the handler does, call by call: `Ok`, fail with 500, panic, or wait for a permit.
#[derive(Clone, Copy, Debug)]
enum Act {
    Ok,
    Fail,
    Panic,
    Wait,
}

#[derive(Clone)]
struct Script {
    acts: Arc<Vec<Act>>,
    calls: Arc<AtomicUsize>,
    entered: Arc<Notify>,
    permits: Arc<Semaphore>,
}

impl Script {
    fn new(acts: &[Act]) -> Script {
        Script {
            acts: Arc::new(acts.to_vec()),
            calls: Arc::new(AtomicUsize::new(0)),
            entered: Arc::new(Notify::new()),
            permits: Arc::new(Semaphore::new(0)),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn handler(
    State(script): State<Script>,
    VerifiedWebhook(got): VerifiedWebhook,
) -> (StatusCode, String) {
    let n = script.calls.fetch_add(1, Ordering::SeqCst);
    script.entered.notify_one();
    match script.acts.get(n).copied().unwrap_or(Act::Ok) {
        Act::Ok => {}
        Act::Fail => return (StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned()),
        Act::Panic => panic!("the handler panicked on purpose"),
        Act::Wait => drop(script.permits.acquire().await),
    }
    (StatusCode::OK, got.event.type_str().to_owned())
}

fn webhooks(secret: &Secret, max_body: usize) -> WebhookReceiver {
    let receiver = Receiver::new(Profile::standard())
        .with_secret(secret.clone())
        .with_max_body_len(max_body);
    WebhookReceiver::new(receiver)
        .with_dedupe(MemoryDeduplicator::new(1_000, Duration::from_secs(3_600)))
}

/// The whole wiring: `.route(...).layer(webhooks.layer())`.
fn app(webhooks: &WebhookReceiver, script: &Script) -> Router {
    Router::new()
        .route("/hooks", post(handler))
        .layer(webhooks.layer())
        .with_state(script.clone())
}

fn signed(secret: &Secret, envelope: &Envelope) -> Request<Body> {
    let body = envelope.to_vec().unwrap();
    let headers = Profile::standard()
        .scheme()
        .sign(
            std::slice::from_ref(secret),
            &Message::new(envelope.id().as_str(), Timestamp::now(), &body),
        )
        .unwrap();
    let mut request = Request::post("/hooks").body(Body::from(body)).unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn answer(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn sample() -> Envelope {
    Envelope::new(Event::sample(EventType::CourseMemberCompleted))
}

#[tokio::test]
async fn a_genuine_request_reaches_the_handler_once_and_a_forgery_never() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[]);
    let app = app(&webhooks(&secret, 1 << 20), &script);
    let envelope = sample();

    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "course.member.completed")
    );
    // The sender retries (a new signature, the same event id): 200, the handler does not run.
    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "already received")
    );
    assert_eq!(script.calls(), 1);

    // Signed with another secret: 401, with the reason.
    let other = Secret::generate_standard().unwrap();
    let (status, body) = answer(&app, signed(&other, &sample())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("does not match"), "{body}");
    assert_eq!(script.calls(), 1);
}

#[tokio::test]
async fn a_handler_that_fails_once_is_run_again_by_the_retry_and_committed_once() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[Act::Fail, Act::Ok]);
    let app = app(&webhooks(&secret, 1 << 20), &script);
    let envelope = sample();

    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "down")
    );
    // The sender retries: the id was released, so the handler runs again, and succeeds.
    let (status, _) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(script.calls(), 2);
    // Committed once: later copies do not reach it.
    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "already received")
    );
    assert_eq!(script.calls(), 2);
}

#[tokio::test]
async fn a_handler_that_panics_releases_the_id_and_the_panic_goes_on() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[Act::Panic, Act::Ok]);
    let app = app(&webhooks(&secret, 1 << 20), &script);
    let envelope = sample();

    let first = tokio::spawn({
        let (app, request) = (app.clone(), signed(&secret, &envelope));
        async move { answer(&app, request).await }
    });
    let joined = first.await.unwrap_err();
    assert!(joined.is_panic(), "the host's panic handling still sees it");
    let (status, _) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(script.calls(), 2);
}

#[tokio::test]
async fn a_copy_arriving_while_the_first_is_handled_gets_409_with_retry_after() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[Act::Wait]);
    let app = app(&webhooks(&secret, 1 << 20), &script);
    let envelope = sample();

    let entered = script.entered.notified();
    let first = tokio::spawn({
        let (app, request) = (app.clone(), signed(&secret, &envelope));
        async move { answer(&app, request).await }
    });
    entered.await;
    let response = app
        .clone()
        .oneshot(signed(&secret, &envelope))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(script.calls(), 1, "not handled twice");

    script.permits.add_permits(1);
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "already received")
    );
    assert_eq!(script.calls(), 1);
}

/// A process killed mid-handler neither commits nor releases: its future is never finished
/// nor dropped here (as with SIGKILL). The claim holds for its lease, then a retry is handled.
#[tokio::test]
async fn a_claim_whose_process_died_expires_after_its_lease() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[Act::Wait, Act::Ok]);
    let webhooks = webhooks(&secret, 1 << 20).with_lease(Duration::from_millis(1_200));
    let app = app(&webhooks, &script);
    let envelope = sample();

    let mut dying = Box::pin(answer(&app, signed(&secret, &envelope)));
    tokio::select! {
        _ = &mut dying => panic!("the handler waits"),
        _ = script.entered.notified() => {}
    }
    std::mem::forget(dying);

    let (status, _) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(status, StatusCode::CONFLICT, "the claim still holds");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let (status, body) = answer(&app, signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "course.member.completed")
    );
    assert_eq!(script.calls(), 2);
}

/// The client went away mid-handler (hyper drops the request's future): the claim is
/// released at once, not held for its lease.
#[tokio::test]
async fn a_request_dropped_mid_handler_releases_its_claim() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[Act::Wait, Act::Ok]);
    let app = app(&webhooks(&secret, 1 << 20), &script); // the default lease: 60 s
    let envelope = sample();
    let mut dropped = Box::pin(answer(&app, signed(&secret, &envelope)));
    tokio::select! {
        _ = &mut dropped => panic!("the handler waits"),
        _ = script.entered.notified() => {}
    }
    drop(dropped);
    // The release runs on the runtime, in the background.
    let mut status = StatusCode::CONFLICT;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = answer(&app, signed(&secret, &envelope)).await.0;
        if status != StatusCode::CONFLICT {
            break;
        }
    }
    assert_eq!(status, StatusCode::OK);
    assert_eq!(script.calls(), 2);
}

/// A body that never ends, counting what was read from it.
struct Endless {
    produced: Arc<AtomicUsize>,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.produced.fetch_add(64 * 1024, Ordering::SeqCst);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![
            b' ';
            64 * 1024
        ])))))
    }
}

/// A body that sends one byte and then nothing, ever (a client trickling).
struct Trickle {
    sent: bool,
}

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match std::mem::replace(&mut self.sent, true) {
            false => Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"{"))))),
            true => Poll::Pending,
        }
    }
}

/// Signature headers that look right (they are checked only once the body is read).
fn with_signature_headers(builder: axum::http::request::Builder) -> axum::http::request::Builder {
    builder
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", Timestamp::now().unix().to_string())
        .header("webhook-signature", "v1,AAAA")
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_never_read_past_it() {
    let secret = Secret::generate_standard().unwrap();
    let limit = 256 * 1024;
    let script = Script::new(&[]);
    let app = app(&webhooks(&secret, limit), &script);

    // Announced: refused before reading.
    let request = with_signature_headers(Request::post("/hooks"))
        .header("content-length", (1u64 << 30).to_string())
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(answer(&app, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // Not announced (chunked, endless, "1 GiB" and more): the read stops past the limit.
    let produced = Arc::new(AtomicUsize::new(0));
    let request = with_signature_headers(Request::post("/hooks"))
        .body(Body::new(Endless {
            produced: Arc::clone(&produced),
        }))
        .unwrap();
    assert_eq!(answer(&app, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let read = produced.load(Ordering::SeqCst);
    assert!(
        read <= limit + 64 * 1024,
        "read {read} bytes for a {limit}-byte limit"
    );
    assert_eq!(script.calls(), 0);
}

#[tokio::test]
async fn a_request_without_signature_headers_is_refused_before_its_body_is_read() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[]);
    let app = app(&webhooks(&secret, 4 << 20), &script);
    let produced = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/hooks")
        .body(Body::new(Endless {
            produced: Arc::clone(&produced),
        }))
        .unwrap();
    let (status, body) = answer(&app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("webhook-id"), "{body}");
    assert_eq!(
        produced.load(Ordering::SeqCst),
        0,
        "not one byte of the body was read"
    );
    assert_eq!(script.calls(), 0);
}

#[tokio::test]
async fn a_body_that_trickles_is_refused_after_the_read_timeout() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[]);
    let webhooks = webhooks(&secret, 1 << 20).with_read_timeout(Duration::from_millis(200));
    let app = app(&webhooks, &script);
    let request = with_signature_headers(Request::post("/hooks"))
        .body(Body::new(Trickle { sent: false }))
        .unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), answer(&app, request))
        .await
        .expect("answered, not held open");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(body.contains("200 ms"), "{body}");
    assert_eq!(script.calls(), 0);
}

/// Without the layer, the extractor verifies and parses (the receiver as an `Extension`) and
/// never deduplicates; with neither, it says what is missing.
#[tokio::test]
async fn without_the_layer_the_extractor_verifies_but_never_marks_an_id() {
    let secret = Secret::generate_standard().unwrap();
    let script = Script::new(&[]);
    let bare = Router::new()
        .route("/hooks", post(handler))
        .layer(Extension(webhooks(&secret, 1 << 20)))
        .with_state(script.clone());
    let envelope = sample();
    for _ in 0..2 {
        let (status, _) = answer(&bare, signed(&secret, &envelope)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(script.calls(), 2, "no deduplication without the layer");
    let other = Secret::generate_standard().unwrap();
    assert_eq!(
        answer(&bare, signed(&other, &envelope)).await.0,
        StatusCode::UNAUTHORIZED
    );

    let unwired = Router::new()
        .route("/hooks", post(handler))
        .with_state(script.clone());
    let (status, body) = answer(&unwired, signed(&secret, &envelope)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("WebhookReceiver::layer()"), "{body}");
}
