//! The axum extractor (`lms_webhooks::axum`): a genuine request reaches the handler once, a
//! retry is answered 200 without it, a forgery 401, and a body over the limit 413 without
//! being read past the limit, even when it announces no length.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::dedupe::MemoryDeduplicator;
use lms_webhooks::signature::Message;
use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret, Timestamp};
use tower::ServiceExt;

#[derive(Clone)]
struct App {
    webhooks: WebhookReceiver,
    handled: Arc<AtomicUsize>,
}

impl axum::extract::FromRef<App> for WebhookReceiver {
    fn from_ref(app: &App) -> WebhookReceiver {
        app.webhooks.clone()
    }
}

async fn hooks(State(app): State<App>, VerifiedWebhook(got): VerifiedWebhook) -> String {
    app.handled.fetch_add(1, Ordering::SeqCst);
    got.event.type_str().to_owned()
}

fn app(secret: &Secret, max_body: usize) -> (Router, Arc<AtomicUsize>) {
    let receiver = Receiver::new(Profile::standard())
        .with_secret(secret.clone())
        .with_max_body_len(max_body);
    let handled = Arc::new(AtomicUsize::new(0));
    let state = App {
        webhooks: WebhookReceiver::new(receiver)
            .with_dedupe(MemoryDeduplicator::new(1_000, Duration::from_secs(3_600))),
        handled: Arc::clone(&handled),
    };
    (
        Router::new().route("/hooks", post(hooks)).with_state(state),
        handled,
    )
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

#[tokio::test]
async fn a_genuine_request_reaches_the_handler_once_and_a_forgery_never() {
    let secret = Secret::generate_standard().unwrap();
    let (app, handled) = app(&secret, 1 << 20);
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));

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
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    // Signed with another secret: 401, with the reason.
    let other = Secret::generate_standard().unwrap();
    let fresh = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let (status, body) = answer(&app, signed(&other, &fresh)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("does not match"), "{body}");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

/// A body that never ends, counting what was read from it.
struct Endless {
    produced: Arc<AtomicUsize>,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

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

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_never_read_past_it() {
    let secret = Secret::generate_standard().unwrap();
    let limit = 256 * 1024;
    let (app, handled) = app(&secret, limit);

    // Announced: refused before reading.
    let request = Request::post("/hooks")
        .header("content-length", (1u64 << 30).to_string())
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(answer(&app, request).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // Not announced (chunked, endless, "1 GiB" and more): the read stops past the limit.
    let produced = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/hooks")
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
    assert_eq!(handled.load(Ordering::SeqCst), 0);
}
