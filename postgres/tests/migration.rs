//! Storage v2 (migration 8) on a real PostgreSQL started by the test: the schema the last
//! release left (migration 4) is filled
//! with deliveries in every state as the earlier versions stored them (the core crate's JSON in
//! each row), migrated, and every one of them carries on: pending ones and a failing one (its
//! schedule and attempt count kept) are delivered, a held one after its endpoint resumes, a
//! leased one whose worker died is taken over, a done one can be resent, a given-up one (with
//! its operations log) recovered, a test ping gets its message, and a body that its endpoint's
//! layout made differ from the message is kept and sent as it was.

mod support;

use std::time::Duration;

use lms_webhooks::delivery::{Delivery, Outcome};
use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp};
use lms_webhooks_postgres::{migrate, migrate_to, MasterKey, Outbox, Worker};
use sqlx::{PgPool, Row};
use support::pg::Pg;
use support::receiver::recording;
use support::store::{loopback, loopback_transport, KEY};

/// A row as the earlier versions wrote it: the core crate's JSON.
#[allow(clippy::too_many_arguments)]
async fn old_row(
    pool: &PgPool,
    delivery: &Delivery,
    state: &str,
    lease: Option<(&str, i64)>,
    finished: bool,
    message: Option<&[u8]>,
) -> i64 {
    if let Some(body) = message {
        sqlx::query(
            "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
             VALUES ('t', $1, 'crm.contact.tag_added', now(), $2) ON CONFLICT DO NOTHING",
        )
        .bind(delivery.event_id())
        .bind(body)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due,
           attempt_count, lease_owner, lease_until, delivery, finished_at)
         VALUES ('t', $1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7), $8,
           CASE WHEN $9 THEN now() END)
         RETURNING id",
    )
    .bind(delivery.event_id())
    .bind(delivery.endpoint_id())
    .bind(state)
    .bind(
        delivery
            .next_due()
            .map(|t| time::OffsetDateTime::from_unix_timestamp(t.unix()).unwrap()),
    )
    .bind(i32::try_from(delivery.attempt_count()).unwrap())
    .bind(lease.map(|l| l.0))
    .bind(lease.map_or(0.0, |l| l.1 as f64))
    .bind(delivery.to_json())
    .bind(finished)
    .fetch_one(pool)
    .await
    .unwrap()
    .get("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_of_the_old_schema_carries_on_after_migration_8() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    // The schema as the last release left it: migration 4.
    migrate_to(&pool, 4).await.unwrap();
    let (to, seen) = recording(|| (200, ""));
    let now = Timestamp::now();
    let hour_ago = now.checked_sub(Duration::from_secs(3_600)).unwrap();
    let endpoint = |id: &str| Endpoint::create(hour_ago, id, &to, &loopback()).unwrap().0;
    let crm = endpoint("crm");
    let target = crm.target(hour_ago);
    let event = || Envelope::new(Event::sample(EventType::CrmContactTagAdded));
    let new = |endpoint: &str| {
        let envelope = event();
        let body = envelope.to_vec().unwrap();
        (
            Delivery::new(hour_ago, envelope.id().as_str(), endpoint, body.clone()),
            body,
        )
    };

    // Pending, never attempted.
    let (pending, body) = new("crm");
    old_row(&pool, &pending, "pending", None, false, Some(&body)).await;
    // Pending after two failures, due again now.
    let (mut failing, body) = new("crm");
    for minute in [0, 5] {
        let t = hour_ago.saturating_add(Duration::from_secs(minute * 60));
        failing.next_request(t, &target).unwrap();
        let _ = failing.record(t, &target, Outcome::status(500)).unwrap();
    }
    assert_eq!(failing.attempt_count(), 2);
    old_row(&pool, &failing, "pending", None, false, Some(&body)).await;
    // Held for a paused endpoint.
    let (held, body) = new("paused");
    old_row(&pool, &held, "held", None, false, Some(&body)).await;
    // Leased by a worker that died (its lease ran out).
    let (leased, body) = new("crm");
    old_row(
        &pool,
        &leased,
        "pending",
        Some(("dead-worker", -5)),
        false,
        Some(&body),
    )
    .await;
    // Delivered.
    let (mut done, body) = new("crm");
    done.next_request(hour_ago, &target).unwrap();
    let _ = done
        .record(hour_ago, &target, Outcome::status(200))
        .unwrap();
    old_row(&pool, &done, "done", None, true, Some(&body)).await;
    // Gave up, after an earlier resend by an operator (its operations log).
    let (mut gave_up, body) = new("crm");
    gave_up.next_request(hour_ago, &target).unwrap();
    let _ = gave_up
        .record(hour_ago, &target, Outcome::status(500))
        .unwrap();
    gave_up.resend(hour_ago, "ops", "retry it").unwrap();
    gave_up.cancel(hour_ago, "ops", "not needed").unwrap();
    old_row(&pool, &gave_up, "gave_up", None, true, Some(&body)).await;
    // A test ping: no message row.
    let (mut ping, _) = new("crm");
    ping.next_request(hour_ago, &target).unwrap();
    let _ = ping
        .record(hour_ago, &target, Outcome::status(200))
        .unwrap();
    old_row(&pool, &ping, "done", None, true, None).await;
    // A body in another layout than the message's.
    let envelope = event();
    let layout_body = br#"{"version":2,"type":"userTagAdded","data":{}}"#.to_vec();
    let mut other = Delivery::new(hour_ago, envelope.id().as_str(), "crm", layout_body.clone());
    other.next_request(hour_ago, &target).unwrap();
    let _ = other
        .record(hour_ago, &target, Outcome::status(503))
        .unwrap();
    old_row(
        &pool,
        &other,
        "pending",
        None,
        false,
        Some(&envelope.to_vec().unwrap()),
    )
    .await;

    migrate(&pool).await.unwrap();
    // The endpoints, as the release after it stores them (deliveries name them by id).
    let outbox = Outbox::open(pool.clone(), MasterKey::parse(KEY).unwrap())
        .await
        .unwrap();
    outbox.add_endpoint("t", &crm, None).await.unwrap();
    outbox
        .add_endpoint("t", &endpoint("paused"), None)
        .await
        .unwrap();
    outbox
        .edit_endpoint("t", "paused", |e| {
            e.pause(now);
            Ok(())
        })
        .await
        .unwrap();
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_name = 'lmsw_deliveries'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!columns.iter().any(|c| c == "delivery"), "{columns:?}");
    let kept_bodies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lmsw_deliveries WHERE body IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        kept_bodies, 1,
        "only the body that differs from its message"
    );
    let operations: i64 = sqlx::query_scalar("SELECT count(*) FROM lmsw_operations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(operations, 2, "the resend and the cancel");

    let transport = loopback_transport();
    let worker = Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(20))
        .with_lease(Duration::from_secs(5));
    let stats = worker.run_until_idle().await.unwrap();
    assert_eq!(
        stats.delivered, 4,
        "pending, failing, leased, other layout: {stats:?}"
    );
    // The bodies received for event `id` (its `webhook-id` header).
    let got = |id: &str| -> Vec<Vec<u8>> {
        let seen = seen.lock().unwrap();
        let of = |headers: &Vec<(String, String)>| {
            headers
                .iter()
                .any(|(name, value)| name.eq_ignore_ascii_case("webhook-id") && value == id)
        };
        seen.iter()
            .filter(|(h, _)| of(h))
            .map(|(_, body)| body.clone())
            .collect()
    };
    for d in [&pending, &failing, &leased] {
        assert_eq!(got(d.event_id()).len(), 1, "{}", d.event_id());
    }
    assert_eq!(
        got(other.event_id()),
        std::slice::from_ref(&layout_body),
        "sent as it was"
    );
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempt_count FROM lmsw_deliveries WHERE event_id = $1")
            .bind(failing.event_id())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3, "the third attempt of the failing one");

    // The held one, once its endpoint resumes; the done one resent; the given-up one recovered.
    outbox
        .edit_endpoint("t", "paused", |e| {
            e.resume(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();
    assert!(outbox
        .resend("t", done.event_id(), "crm", "ops", "again")
        .await
        .unwrap());
    let recovered = outbox
        .recover(
            "t",
            "crm",
            hour_ago.checked_sub(Duration::from_secs(1)).unwrap(),
            "ops",
            "all",
        )
        .await
        .unwrap();
    assert_eq!(recovered, 1);
    let stats = worker.run_until_idle().await.unwrap();
    assert_eq!(stats.delivered, 3, "{stats:?}");
    for d in [&held, &done, &gave_up] {
        assert_eq!(got(d.event_id()).len(), 1, "{}", d.event_id());
    }
    let states: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT state FROM lmsw_deliveries ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(states, ["done"]);
    let ping_message: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lmsw_messages WHERE event_id = $1")
            .bind(ping.event_id())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(ping_message, 1);
}
