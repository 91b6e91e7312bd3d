//! The shared deduplication store on a real PostgreSQL started by the test: claim, commit and
//! release per scope; expiry and purge; one winner among receivers racing on one id; the axum
//! layer across two receiver machines (a failing handler, a copy during the handler, the
//! database away); and a receiver process killed mid-handler, whose claim expires after its
//! lease so that the next retry is handled.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::dedupe::Claim;
use lms_webhooks::signature::Message;
use lms_webhooks::{Envelope, Event, EventId, EventType, Profile, Receiver, Secret, Timestamp};
use lms_webhooks_postgres::PgDeduplicator;
use support::pg::Pg;
use support::store::fresh_outbox;
use tower::ServiceExt;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_commits_and_releases_per_scope_until_they_expire() {
    let pg = Pg::start();
    let (pool, _outbox) = fresh_outbox(&pg, 20).await;
    let seen = PgDeduplicator::new(pool.clone(), Duration::from_secs(3_600));
    let t = 1_800_000_000;
    let claim = |now: i64, scope: &'static str, id: &'static str| {
        let seen = seen.clone();
        async move { seen.claim(at(now), scope, id, LEASE).await.unwrap() }
    };

    // Claimed, then in progress until committed; done afterwards.
    let Claim::Claimed(first) = claim(t, "learnomy", "evt_1").await else {
        panic!("new")
    };
    assert_eq!(
        claim(t + 10, "learnomy", "evt_1").await,
        Claim::InProgress {
            retry_after: Duration::from_secs(20)
        }
    );
    // Another scope's evt_1 is another event.
    assert!(matches!(
        claim(t + 10, "learnink", "evt_1").await,
        Claim::Claimed(_)
    ));
    // Released (the handler failed): the next copy is claimed, with another token.
    seen.release(at(t + 11), "learnomy", "evt_1", first)
        .await
        .unwrap();
    let Claim::Claimed(second) = claim(t + 12, "learnomy", "evt_1").await else {
        panic!("released")
    };
    assert_ne!(first, second);
    // The first claim's late release frees nothing.
    seen.release(at(t + 13), "learnomy", "evt_1", first)
        .await
        .unwrap();
    assert!(matches!(
        claim(t + 14, "learnomy", "evt_1").await,
        Claim::InProgress { .. }
    ));
    seen.commit(at(t + 15), "learnomy", "evt_1", second)
        .await
        .unwrap();
    assert_eq!(claim(t + 16, "learnomy", "evt_1").await, Claim::Done);
    assert_eq!(
        claim(t + 15 + 3_600, "learnomy", "evt_1").await,
        Claim::Done
    );
    // Past the TTL after its commit it is forgotten: claimed again.
    assert!(matches!(
        claim(t + 15 + 3_601, "learnomy", "evt_1").await,
        Claim::Claimed(_)
    ));

    // A claim nobody commits or releases (its process died) ends with its lease.
    let Claim::Claimed(_) = claim(t, "learnomy", "evt_dead").await else {
        panic!("new")
    };
    assert!(matches!(
        claim(t + 29, "learnomy", "evt_dead").await,
        Claim::InProgress { .. }
    ));
    assert!(matches!(
        claim(t + 30, "learnomy", "evt_dead").await,
        Claim::Claimed(_)
    ));

    // The purge deletes handled ids older than the TTL and claims past their lease.
    let Claim::Claimed(token) = claim(t + 40, "learnomy", "evt_old").await else {
        panic!("new")
    };
    seen.commit(at(t + 40), "learnomy", "evt_old", token)
        .await
        .unwrap();
    let purged = seen.purge(at(t + 40 + 3_601)).await.unwrap();
    // learnink's claim (lease over), evt_dead's second claim (lease over) and evt_old (TTL
    // over); not learnomy's evt_1, claimed again at t+3616 (its lease runs to t+3646).
    assert_eq!(purged, 3);
    let left: Vec<(String, String)> = sqlx::query_as("SELECT scope, id FROM lmsw_seen")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, [("learnomy".to_owned(), "evt_1".to_owned())]);

    // Receivers on several machines given the same retry at once: exactly one handles it.
    let seen = Arc::new(seen);
    let mut racers = Vec::new();
    for _ in 0..16 {
        let seen = Arc::clone(&seen);
        racers.push(tokio::spawn(async move {
            seen.claim(at(t + 4_000), "learnomy", "evt_race", LEASE)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Claim::Claimed(_) => winners += 1,
            other => assert!(matches!(other, Claim::InProgress { .. }), "{other:?}"),
        }
    }
    assert_eq!(winners, 1);
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

async fn answer(app: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One receiver machine: its own router, the shared store; the handler fails while `fail`
/// is above zero, and counts its runs.
fn machine(
    pool: sqlx::PgPool,
    secret: &Secret,
    lease: Duration,
    runs: Arc<AtomicUsize>,
    fail: Arc<AtomicUsize>,
) -> axum::Router {
    let receiver = Receiver::new(Profile::standard()).with_secret(secret.clone());
    let webhooks = WebhookReceiver::new(receiver)
        .with_dedupe(PgDeduplicator::new(pool, Duration::from_secs(86_400)))
        .with_lease(lease);
    let handler = move |VerifiedWebhook(got): VerifiedWebhook| async move {
        runs.fetch_add(1, Ordering::SeqCst);
        let failing = fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        match failing {
            true => (StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned()),
            false => (StatusCode::OK, got.id),
        }
    };
    axum::Router::new()
        .route("/hooks", post(handler))
        .layer(webhooks.layer())
}

/// Receivers behind the axum layer share the store: a handler that fails on machine A lets
/// the retry through on machine B, which commits; later copies reach no handler; with the
/// database away, 503 (the sender retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_layer_claims_across_receivers_through_postgres() {
    let pg = Pg::start();
    let (pool, _outbox) = fresh_outbox(&pg, 20).await;
    let secret = Secret::generate_standard().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(AtomicUsize::new(1));
    let a = machine(
        pool.clone(),
        &secret,
        LEASE,
        Arc::clone(&runs),
        Arc::clone(&fail),
    );
    let b = machine(
        pool.clone(),
        &secret,
        LEASE,
        Arc::clone(&runs),
        Arc::clone(&fail),
    );
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));

    let first = answer(a.clone(), signed(&secret, &envelope)).await;
    assert_eq!(
        first,
        (StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned())
    );
    let retry = answer(b.clone(), signed(&secret, &envelope)).await;
    assert_eq!(retry, (StatusCode::OK, envelope.id().as_str().to_owned()));
    let again = answer(a.clone(), signed(&secret, &envelope)).await;
    assert_eq!(again, (StatusCode::OK, "already received".to_owned()));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "handled twice, committed once"
    );
    let rows: Vec<(Option<i64>,)> =
        sqlx::query_as("SELECT claim_token FROM lmsw_seen WHERE id = $1")
            .bind(envelope.id().as_str())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows, [(None,)], "one row, committed");

    pool.close().await;
    let fresh = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let (status, _) = answer(a, signed(&secret, &fresh)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

const CHILD_DB: &str = "LMSW_DEDUPE_CHILD_DB";

/// Not a test of its own: the receiver process that `a_receiver_killed_mid_handler` starts
/// and kills. It claims the event given in its environment through the layer, says so, and
/// hangs in the handler until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_receiver_killed_mid_handler_loses_no_event, as a child process"]
async fn child_receiver_that_hangs_in_its_handler() {
    let Ok(url) = std::env::var(CHILD_DB) else {
        return;
    };
    let secret = Secret::parse(&std::env::var("LMSW_DEDUPE_CHILD_SECRET").unwrap()).unwrap();
    let id = EventId::parse(&std::env::var("LMSW_DEDUPE_CHILD_EVENT").unwrap()).unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let receiver = Receiver::new(Profile::standard()).with_secret(secret.clone());
    let webhooks = WebhookReceiver::new(receiver)
        .with_dedupe(PgDeduplicator::new(pool, Duration::from_secs(86_400)))
        .with_lease(Duration::from_secs(3));
    let app = axum::Router::new()
        .route(
            "/hooks",
            post(|VerifiedWebhook(_): VerifiedWebhook| async {
                println!("HANDLING");
                tokio::time::sleep(Duration::from_secs(3_600)).await;
                StatusCode::OK
            }),
        )
        .layer(webhooks.layer());
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted)).with_id(id);
    let _ = answer(app, signed(&secret, &envelope)).await;
}

/// A receiver process killed (SIGKILL) while its handler runs neither commits nor releases:
/// a copy arriving meanwhile is answered 409, and once the claim's lease has ended the next
/// copy is handled on another machine. Nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_handler_loses_no_event() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    lms_webhooks_postgres::migrate(&pool).await.unwrap();
    let secret = Secret::generate_standard().unwrap();
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_receiver_that_hangs_in_its_handler"])
        .args(["--ignored", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DB, &url)
        .env("LMSW_DEDUPE_CHILD_SECRET", &*secret.expose_text())
        .env("LMSW_DEDUPE_CHILD_EVENT", envelope.id().as_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let handling = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("HANDLING"))
    });
    let started = tokio::task::spawn_blocking(move || handling.join().unwrap());
    let started = tokio::time::timeout(Duration::from_secs(60), started).await;
    child.kill().unwrap(); // SIGKILL: no destructor, no release
    child.wait().unwrap();
    assert!(started.unwrap().unwrap(), "the child reached its handler");

    let runs = Arc::new(AtomicUsize::new(0));
    let other = machine(
        pool.clone(),
        &secret,
        LEASE,
        Arc::clone(&runs),
        Arc::new(AtomicUsize::new(0)),
    );
    let (status, _) = answer(other.clone(), signed(&secret, &envelope)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the dead claim holds until its lease ends"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = answer(other.clone(), signed(&secret, &envelope)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, envelope.id().as_str())
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A receiver without an outbox creates only its own table, as often as it likes, before or
/// after the outbox's migrations on the same database; what it stored stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_migrates_only_its_own_table() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables = || async {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        names
    };
    lms_webhooks_postgres::migrate_dedupe(&pool).await.unwrap();
    lms_webhooks_postgres::migrate_dedupe(&pool).await.unwrap();
    assert_eq!(tables().await, ["lmsw_seen"]);
    let seen = PgDeduplicator::new(pool.clone(), Duration::from_secs(3_600));
    let Claim::Claimed(token) = seen
        .claim(at(1_800_000_000), "s", "evt_1", LEASE)
        .await
        .unwrap()
    else {
        panic!("new")
    };
    seen.commit(at(1_800_000_001), "s", "evt_1", token)
        .await
        .unwrap();

    // The outbox's migrations afterwards: every table, the receiver's row kept.
    lms_webhooks_postgres::migrate(&pool).await.unwrap();
    lms_webhooks_postgres::migrate_dedupe(&pool).await.unwrap();
    let all = tables().await;
    assert!(all.contains(&"lmsw_deliveries".to_owned()), "{all:?}");
    assert_eq!(
        seen.claim(at(1_800_000_002), "s", "evt_1", LEASE)
            .await
            .unwrap(),
        Claim::Done
    );
}
