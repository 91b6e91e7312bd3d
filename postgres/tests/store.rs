//! The store on a real PostgreSQL started by the test: migrations, sealed endpoints, the
//! transactional publish.

mod support;

use std::time::Duration;

use lms_webhooks::endpoint::{EndpointError, EventFilter};
use lms_webhooks::{
    Endpoint, EndpointStatus, Envelope, Event, EventType, Secret, Timestamp, UrlPolicy,
};
use lms_webhooks_postgres::{latest_migration, migrate, MasterKey, Outbox, StoreError};
use sqlx::Row;
use support::pg::Pg;
use support::store::{outbox_on, KEY};

const OTHER_KEY: &str = "another-32-character-secret-key!";

fn endpoint(id: &str) -> (Endpoint, String) {
    let (e, shown) = Endpoint::create(
        Timestamp::now(),
        id,
        &format!("https://{id}.example.com/hooks"),
        &UrlPolicy::new(),
    )
    .unwrap();
    (e, shown.to_string())
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

#[tokio::test]
async fn migrations_are_idempotent_concurrent_and_refuse_a_newer_database() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { migrate(&pool).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    migrate(&pool).await.unwrap();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lmsw_migrations").await,
        i64::from(latest_migration())
    );
    sqlx::query("INSERT INTO lmsw_migrations (version) VALUES (999)")
        .execute(&pool)
        .await
        .unwrap();
    let e = migrate(&pool).await.unwrap_err();
    assert!(
        matches!(e, StoreError::UnknownMigration { found: 999, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn secrets_are_sealed_a_wrong_key_is_refused_and_rekeying_works() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let (pool, outbox) = outbox_on(&url, 10).await;
    let (crm, secret_text) = endpoint("crm");
    let key =
        lms_webhooks::EncryptionKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .unwrap();
    let crm = crm.with_encryption(key.clone());
    outbox.add_endpoint("school_1", &crm, None).await.unwrap();
    assert_eq!(outbox.endpoint("school_1", "crm").await.unwrap(), crm);

    // pg_dump holds neither the signing secret nor the encryption key, in any encoding.
    let dump = pg.dump(&url);
    let secret = Secret::parse(&secret_text).unwrap();
    for (bytes, what) in [
        (secret.expose_bytes(), "signing secret"),
        (&key.expose_bytes()[..], "encryption key"),
        (secret_text.as_bytes(), "secret text"),
    ] {
        assert!(!dump.windows(bytes.len()).any(|w| w == bytes), "{what}");
    }
    let text = String::from_utf8_lossy(&dump);
    assert!(!text.contains("whsec_") && !text.contains("crm.example.com"));

    // Another key is refused before anything is read.
    let e = Outbox::open(pool.clone(), MasterKey::parse(OTHER_KEY).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::MasterKeyMismatch), "{e}");

    // Re-keying: the new key opens everything, the old one nothing.
    let outbox = outbox
        .rekey(MasterKey::parse(OTHER_KEY).unwrap())
        .await
        .unwrap();
    assert_eq!(outbox.endpoint("school_1", "crm").await.unwrap(), crm);
    assert!(matches!(
        Outbox::open(pool.clone(), MasterKey::parse(KEY).unwrap()).await,
        Err(StoreError::MasterKeyMismatch)
    ));

    // A sealed row moved to another id does not open.
    sqlx::query("INSERT INTO lmsw_endpoints (tenant, id, status, sealed) SELECT 'school_2', 'crm', status, sealed FROM lmsw_endpoints")
        .execute(&pool)
        .await
        .unwrap();
    let e = outbox.endpoint("school_2", "crm").await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
}

#[tokio::test]
async fn publish_commits_with_the_host_transaction_or_not_at_all() {
    let pg = Pg::start();
    let url = pg.fresh_database().await;
    let (pool, outbox) = outbox_on(&url, 10).await;
    let (active, _) = endpoint("active");
    let (mut paused, _) = endpoint("paused");
    paused.pause(Timestamp::now());
    let (mut disabled, _) = endpoint("disabled");
    disabled.disable(Timestamp::now());
    let (courses, _) = endpoint("courses");
    let courses = courses.with_filter(EventFilter::parse(["course.*"]).unwrap());
    for e in [&active, &paused, &disabled, &courses] {
        outbox.add_endpoint("school_1", e, Some(4)).await.unwrap();
    }
    let (fifth, _) = endpoint("fifth");
    assert!(matches!(
        outbox.add_endpoint("school_1", &fifth, Some(4)).await,
        Err(StoreError::Endpoint(EndpointError::LimitReached {
            limit: 4
        }))
    ));
    assert!(matches!(
        outbox.add_endpoint("school_1", &active, None).await,
        Err(StoreError::Endpoint(EndpointError::DuplicateId(_)))
    ));

    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    // Rolled back: nothing.
    let mut tx = pool.begin().await.unwrap();
    let published = outbox.publish(&mut tx, "school_1", &sale).await.unwrap();
    assert_eq!((published.deliveries, published.held), (2, 1));
    tx.rollback().await.unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM lmsw_messages").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lmsw_deliveries").await,
        0
    );

    // Committed: the message, a pending delivery for the active endpoint, a held one for the
    // paused one, none for the disabled one or the course-only one.
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, "school_1", &sale).await.unwrap();
    tx.commit().await.unwrap();
    let rows = sqlx::query("SELECT endpoint_id, state FROM lmsw_deliveries ORDER BY endpoint_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get("endpoint_id"), r.get("state")))
        .collect();
    assert_eq!(
        got,
        [
            ("active".to_owned(), "pending".to_owned()),
            ("paused".to_owned(), "held".to_owned())
        ]
    );
    // The same event id again: a no-op.
    let mut tx = pool.begin().await.unwrap();
    let again = outbox.publish(&mut tx, "school_1", &sale).await.unwrap();
    tx.commit().await.unwrap();
    assert!(again.duplicate);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lmsw_deliveries").await,
        2
    );

    // Resuming the paused endpoint releases its held delivery.
    outbox
        .edit_endpoint("school_1", "paused", |e| {
            e.resume(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM lmsw_deliveries WHERE state = 'pending'"
        )
        .await,
        2
    );
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.held), (2, 0));
    assert_eq!(
        outbox
            .endpoint("school_1", "paused")
            .await
            .unwrap()
            .status(),
        EndpointStatus::Active
    );
    let _ = Duration::ZERO;
}

/// A publish reads what it needs from plain columns: no master key (the free function takes a
/// connection, no outbox), and no lock on an active endpoint: an edit holding the endpoint's
/// row does not hold the publish up. (Before, it took `FOR SHARE` on every endpoint of the
/// tenant and opened each one's sealed settings.)
#[tokio::test]
async fn publish_needs_no_key_and_does_not_wait_for_an_edit_of_an_active_endpoint() {
    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let (pool, outbox) = outbox_on(&db, 5).await;
    let (e, _) = endpoint("crm");
    outbox.add_endpoint("t", &e, None).await.unwrap();
    // An admin's edit holds the endpoint's row.
    let mut edit = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM lmsw_endpoints WHERE id = 'crm' FOR UPDATE")
        .execute(&mut *edit)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '2s'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let published = lms_webhooks_postgres::publish(&mut tx, "t", &envelope)
        .await
        .expect("not blocked by the edit");
    assert_eq!((published.deliveries, published.held), (1, 0));
    tx.commit().await.unwrap();
    edit.rollback().await.unwrap();
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM lmsw_deliveries WHERE state = 'pending'"
        )
        .await,
        1
    );
}

/// The purge deletes in batches ([`PURGE_BATCH`] rows a statement, each its own transaction)
/// until nothing older is left: finished deliveries (their attempts and operations with them)
/// and the messages no delivery refers to; pending ones and their messages stay.
#[tokio::test]
async fn purge_deletes_in_batches_until_nothing_older_is_left() {
    use lms_webhooks_postgres::PURGE_BATCH;

    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let (pool, outbox) = outbox_on(&db, 5).await;
    let n = PURGE_BATCH * 2 + 500;
    sqlx::query(
        "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body, created_at)
         SELECT 't', 'evt_' || g, 'webhook.test', now(), '{}', now() - interval '2 days'
         FROM generate_series(1, $1) g",
    )
    .bind(n + 1)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, finished_at)
         SELECT 't', 'evt_' || g, 'ep', 'done', now() - interval '2 days'
         FROM generate_series(1, $1) g",
    )
    .bind(n)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due)
         VALUES ('t', 'evt_' || ($1::bigint + 1), 'ep', 'pending', now())",
    )
    .bind(n)
    .execute(&pool)
    .await
    .unwrap();
    let deleted = outbox.purge(Duration::from_secs(86_400)).await.unwrap();
    assert_eq!(deleted, n as u64);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM lmsw_deliveries").await,
        1
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM lmsw_messages").await, 1);
    assert_eq!(outbox.stats().await.unwrap().pending, 1);
}

/// The delivery log pages by position (keyset): every entry exactly once across pages, even
/// when many started at the same instant, and a position that is not one is refused.
#[tokio::test]
async fn the_log_pages_by_position_without_gaps_or_repeats() {
    let pg = Pg::start();
    let db = pg.fresh_database().await;
    let (pool, _outbox) = outbox_on(&db, 5).await;
    sqlx::query(
        "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
         SELECT 't', 'evt_' || g, 'webhook.test', now(), '{}' FROM generate_series(1, 3) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due)
         SELECT 't', 'evt_' || g, 'ep', 'pending', now() FROM generate_series(1, 3) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    // 120 attempts over 3 deliveries, in 12 distinct instants: many ties to break.
    sqlx::query(
        "INSERT INTO lmsw_attempts (delivery_id, number, tenant, event_id, endpoint_id,
           started_at, duration_ms, status, result)
         SELECT d.id, n, 't', d.event_id, 'ep',
           timestamptz '2026-12-01 00:00:00+00' + (n % 12) * interval '1.5 microseconds',
           1, 500, 'retry'
         FROM lmsw_deliveries d, generate_series(1, 40) n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let page =
            lms_webhooks_postgres::log_before(&pool, "t", None, Some("ep"), before.as_deref(), 50)
                .await
                .unwrap()
                .unwrap();
        pages += 1;
        for e in &page {
            assert!(seen.insert((e.event.clone(), e.attempt)), "repeated: {e:?}");
        }
        match page.last() {
            Some(last) if page.len() == 50 => before = Some(last.cursor.clone()),
            _ => break,
        }
    }
    assert_eq!((seen.len(), pages), (120, 3));
    let bad = lms_webhooks_postgres::log_before(&pool, "t", None, None, Some("x.y"), 10)
        .await
        .unwrap();
    assert_eq!(bad, Err(lms_webhooks_postgres::BadCursor("x.y".to_owned())));
}
