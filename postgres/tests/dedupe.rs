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
