//! The shared deduplication store on a real PostgreSQL started by the test: first time,
//! repeat, scopes apart, expiry and purge, and one winner among receivers racing on one id.

mod support;

use std::sync::Arc;
use std::time::Duration;

use lms_webhooks::Timestamp;
use lms_webhooks_postgres::PgDeduplicator;
use support::pg::Pg;
use support::store::fresh_outbox;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_accepted_once_per_scope_until_they_expire() {
    let pg = Pg::start();
    let (pool, _outbox) = fresh_outbox(&pg, 20).await;
    let seen = PgDeduplicator::new(pool.clone(), Duration::from_secs(3_600));
    let t = 1_800_000_000;
    assert!(seen
        .check_and_mark(at(t), "learnomy", "evt_1")
        .await
        .unwrap());
    assert!(!seen
        .check_and_mark(at(t + 10), "learnomy", "evt_1")
        .await
        .unwrap());
    assert!(seen
        .check_and_mark(at(t + 10), "learnink", "evt_1")
        .await
        .unwrap());
    assert!(!seen
        .check_and_mark(at(t + 3_600), "learnomy", "evt_1")
        .await
        .unwrap());
    // Past the TTL it is forgotten: accepted again, and remembered from then.
    assert!(seen
        .check_and_mark(at(t + 3_601), "learnomy", "evt_1")
        .await
        .unwrap());
    assert!(!seen
        .check_and_mark(at(t + 3_602), "learnomy", "evt_1")
        .await
        .unwrap());
    // The purge deletes what is older than the TTL (learnink's evt_1), not the rest.
    assert_eq!(seen.purge(at(t + 3_700)).await.unwrap(), 1);
    assert!(!seen
        .check_and_mark(at(t + 3_700), "learnomy", "evt_1")
        .await
        .unwrap());

    // Receivers on several machines given the same retry at once: exactly one processes it.
    let seen = Arc::new(seen);
    let mut racers = Vec::new();
    for _ in 0..16 {
        let seen = Arc::clone(&seen);
        racers.push(tokio::spawn(async move {
            seen.check_and_mark(at(t + 4_000), "learnomy", "evt_race")
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
}

/// Receivers behind the axum extractor share the store: a retry reaching another machine is
/// answered 200 without running the handler; with the database away, 503 (the sender retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_extractor_dedupes_across_receivers_through_postgres() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
    use lms_webhooks::signature::Message;
    use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret};
    use tower::ServiceExt;

    let pg = Pg::start();
    let (pool, _outbox) = fresh_outbox(&pg, 20).await;
    let secret = Secret::generate_standard().unwrap();
    // Two receiver machines: their own routers, one store.
    let machine = |pool: sqlx::PgPool| {
        let receiver = Receiver::new(Profile::standard()).with_secret(secret.clone());
        let webhooks = WebhookReceiver::new(receiver)
            .with_dedupe(PgDeduplicator::new(pool, Duration::from_secs(86_400)));
        axum::Router::new()
            .route(
                "/hooks",
                post(|VerifiedWebhook(got): VerifiedWebhook| async move { got.id }),
            )
            .with_state(webhooks)
    };
    let (a, b) = (machine(pool.clone()), machine(pool.clone()));
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    let request = || {
        let body = envelope.to_vec().unwrap();
        let headers = Profile::standard()
            .scheme()
            .sign(
                std::slice::from_ref(&secret),
                &Message::new(envelope.id().as_str(), Timestamp::now(), &body),
            )
            .unwrap();
        let mut request = Request::post("/hooks").body(Body::from(body)).unwrap();
        request.headers_mut().extend(headers);
        request
    };
    let answer = |app: axum::Router, request: Request<Body>| async move {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let first = answer(a.clone(), request()).await;
    assert_eq!(first, (StatusCode::OK, envelope.id().as_str().to_owned()));
    let retry = answer(b.clone(), request()).await;
    assert_eq!(retry, (StatusCode::OK, "already received".to_owned()));

    pool.close().await;
    let fresh = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let body = fresh.to_vec().unwrap();
    let headers = Profile::standard()
        .scheme()
        .sign(
            std::slice::from_ref(&secret),
            &Message::new(fresh.id().as_str(), Timestamp::now(), &body),
        )
        .unwrap();
    let mut request = Request::post("/hooks").body(Body::from(body)).unwrap();
    request.headers_mut().extend(headers);
    let (status, _) = answer(a, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
