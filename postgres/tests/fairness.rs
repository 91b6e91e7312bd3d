//! Fair claims on a real PostgreSQL, over a transport that holds each endpoint's requests until
//! the test lets them go (no HTTP, no sleeps to wait out): an endpoint never has more attempts
//! in flight than its cap, across workers; a claim serves endpoints round-robin; a stuck
//! endpoint with a backlog does not hold up another endpoint, of another tenant or the same;
//! and the claim's plans read only the partial indexes, whatever the plan cache does.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_webhooks::delivery::Outcome;
use lms_webhooks::transport::Transport;
use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp};
use lms_webhooks_postgres::{
    migrate, migrate_to, MasterKey, Outbox, StoreError, Worker, CLAIM_STATEMENTS,
};
use sqlx::{PgPool, Row};
use support::pg::Pg;
use support::store::{fresh_outbox, loopback, KEY};
use tokio::sync::watch;

/// What the gated transport saw, per endpoint (the URL's path).
#[derive(Default)]
struct Seen {
    in_flight: HashMap<String, usize>,
    most: HashMap<String, usize>,
    done: HashMap<String, usize>,
    /// Endpoints in the order their requests went out.
    order: Vec<String>,
}

/// Holds each request until its endpoint's gate opens; answers 200.
#[derive(Clone)]
struct Gated {
    seen: Arc<Mutex<Seen>>,
    gates: Arc<Mutex<HashMap<String, watch::Receiver<bool>>>>,
}

impl Gated {
    /// A transport with a closed gate for each of `paths`; the senders open them.
    fn new(paths: &[&str]) -> (Gated, HashMap<String, watch::Sender<bool>>) {
        let mut gates = HashMap::new();
        let mut openers = HashMap::new();
        for path in paths {
            let (tx, rx) = watch::channel(false);
            gates.insert((*path).to_owned(), rx);
            openers.insert((*path).to_owned(), tx);
        }
        let gated = Gated {
            seen: Arc::default(),
            gates: Arc::new(Mutex::new(gates)),
        };
        (gated, openers)
    }

    fn in_flight(&self, path: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.in_flight.get(path).copied().unwrap_or(0)
    }

    fn done(&self, path: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.done.get(path).copied().unwrap_or(0)
    }

    fn most(&self, path: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.most.get(path).copied().unwrap_or(0)
    }
}

impl Transport for Gated {
    async fn send(&self, request: http::Request<bytes::Bytes>) -> Outcome {
        let path = request.uri().path().to_owned();
        {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.in_flight.entry(path.clone()).or_default();
            *n += 1;
            let n = *n;
            let most = seen.most.entry(path.clone()).or_default();
            *most = (*most).max(n);
            seen.order.push(path.clone());
        }
        let gate = self.gates.lock().unwrap().get(&path).cloned();
        if let Some(mut gate) = gate {
            let _ = gate.wait_for(|open| *open).await;
        }
        let mut seen = self.seen.lock().unwrap();
        *seen.in_flight.entry(path.clone()).or_default() -= 1;
        *seen.done.entry(path).or_default() += 1;
        Outcome::status(200)
    }
}

async fn add(outbox: &Outbox, tenant: &str, id: &str, cap: Option<u32>) {
    let url = format!("http://127.0.0.1:9/{id}");
    let (e, _) = Endpoint::create(Timestamp::now(), id, &url, &loopback()).unwrap();
    outbox.add_endpoint(tenant, &e, None).await.unwrap();
    if let Some(cap) = cap {
        outbox.set_max_in_flight(tenant, id, cap).await.unwrap();
    }
}

async fn publish(pool: &PgPool, outbox: &Outbox, tenant: &str, n: usize) {
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..n {
        let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
        outbox.publish(&mut tx, tenant, &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Waits (at most 30 s) until `ready` holds.
async fn until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `workers` workers of `concurrency` slots each until `stop` is sent.
fn run_workers(
    outbox: &Outbox,
    transport: &Gated,
    workers: usize,
    concurrency: usize,
    stop: &watch::Sender<bool>,
) -> Vec<tokio::task::JoinHandle<Result<lms_webhooks_postgres::WorkerStats, StoreError>>> {
    (0..workers)
        .map(|_| {
            let worker = Worker::new(outbox.clone(), transport.clone())
                .with_concurrency(concurrency)
                .with_poll_interval(Duration::from_millis(20));
            let mut stop = stop.subscribe();
            tokio::spawn(async move {
                worker
                    .run(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_never_has_more_in_flight_than_its_cap_across_workers() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 40).await;
    add(&outbox, "t", "capped", Some(3)).await;
    add(&outbox, "t", "default", None).await;
    assert_eq!(outbox.max_in_flight("t", "capped").await.unwrap(), 3);
    assert_eq!(
        outbox.max_in_flight("t", "default").await.unwrap(),
        lms_webhooks_postgres::DEFAULT_MAX_IN_FLIGHT
    );
    assert!(matches!(
        outbox.set_max_in_flight("t", "capped", 0).await,
        Err(StoreError::MaxInFlight(0))
    ));
    publish(&pool, &outbox, "t", 40).await;

    let (transport, openers) = Gated::new(&["/capped", "/default"]);
    let (stop, _) = watch::channel(false);
    // Three workers with 8 slots each: 24 slots for 80 due deliveries.
    let handles = run_workers(&outbox, &transport, 3, 8, &stop);
    until("both endpoints full", || {
        transport.in_flight("/capped") == 3 && transport.in_flight("/default") == 4
    })
    .await;
    // The other 17 slots stay free while both endpoints are full: give the workers time to
    // take more, if they would (polls every 20 ms, and a NOTIFY).
    publish(&pool, &outbox, "t", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(transport.in_flight("/capped"), 3);
    assert_eq!(transport.in_flight("/default"), 4);
    let stats = outbox.stats().await.unwrap();
    assert_eq!(stats.leased, 7, "{stats:?}");

    for opener in openers.values() {
        opener.send(true).unwrap();
    }
    until("all delivered", || {
        transport.done("/capped") == 41 && transport.done("/default") == 41
    })
    .await;
    stop.send(true).unwrap();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(transport.most("/capped"), 3);
    assert_eq!(transport.most("/default"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_serves_endpoints_round_robin() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 20).await;
    add(&outbox, "t", "first", Some(100)).await;
    add(&outbox, "t", "second", Some(100)).await;
    add(&outbox, "u", "third", Some(100)).await;
    // Every delivery of "t" is older than those of "u".
    publish(&pool, &outbox, "t", 50).await;
    publish(&pool, &outbox, "u", 50).await;

    let (transport, openers) = Gated::new(&["/first", "/second", "/third"]);
    let (stop, _) = watch::channel(false);
    // One worker, 6 send slots (it leases ahead: 12 deliveries before it has timed a request),
    // one claim for all of them: as many from each endpoint, not the oldest (which would all
    // be the first tenant's).
    let handles = run_workers(&outbox, &transport, 1, 6, &stop);
    until("six in flight", || {
        transport.seen.lock().unwrap().order.len() == 6
    })
    .await;
    let leased: Vec<(String, i64)> = sqlx::query(
        "SELECT endpoint_id, count(*) AS n FROM lmsw_deliveries
         WHERE lease_owner IS NOT NULL GROUP BY endpoint_id ORDER BY endpoint_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get("endpoint_id"), row.get("n")))
    .collect();
    let names: Vec<&str> = leased.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["first", "second", "third"]);
    let each = leased[0].1;
    assert!(each >= 2, "{leased:?}");
    assert!(leased.iter().all(|(_, n)| *n == each), "{leased:?}");
    for opener in openers.values() {
        opener.send(true).unwrap();
    }
    until("all delivered", || {
        transport.done("/first") == 50 && transport.done("/third") == 50
    })
    .await;
    stop.send(true).unwrap();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

/// A stuck endpoint with a backlog keeps its cap of slots and no more: another endpoint's
/// deliveries, published after the backlog, all arrive while it is stuck; whether the other
/// endpoint is another tenant's, or the same tenant's, subscribed to the same events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_endpoint_does_not_hold_up_the_others() {
    for same_tenant in [false, true] {
        let pg = Pg::start();
        let (pool, outbox) = fresh_outbox(&pg, 40).await;
        let other = if same_tenant {
            "slow_school"
        } else {
            "fast_school"
        };
        add(&outbox, "slow_school", "slow", None).await;
        if !same_tenant {
            publish(&pool, &outbox, "slow_school", 200).await;
        }
        add(&outbox, other, "fast", None).await;
        if same_tenant {
            // Both subscribed to everything: each event goes to both, the slow one's first.
            publish(&pool, &outbox, "slow_school", 200).await;
        }
        let (transport, openers) = Gated::new(&["/slow"]);
        let (stop, _) = watch::channel(false);
        let handles = run_workers(&outbox, &transport, 2, 8, &stop);
        until("the slow endpoint full", || {
            transport.in_flight("/slow") == 4
        })
        .await;
        if !same_tenant {
            publish(&pool, &outbox, other, 20).await;
        }
        let fast = if same_tenant { 200 } else { 20 };
        until("the fast endpoint served", || {
            transport.done("/fast") == fast
        })
        .await;
        assert_eq!(transport.done("/slow"), 0, "the slow one is still stuck");
        assert_eq!(transport.most("/slow"), 4);
        openers["/slow"].send(true).unwrap();
        until("the backlog drained", || transport.done("/slow") == 200).await;
        stop.send(true).unwrap();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        assert_eq!(transport.most("/slow"), 4);
    }
}

/// The claim's two statements, planned generically (as the worker's connections do, and as
/// any plan cache may), read `lmsw_deliveries` through indexes only: a table of finished rows,
/// however large, is never scanned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_reads_only_the_indexes() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 4).await;
    for id in ["a", "b", "c"] {
        add(&outbox, "t", id, None).await;
    }
    publish(&pool, &outbox, "t", 20_000).await;
    sqlx::query(
        "UPDATE lmsw_deliveries SET state = 'done', finished_at = now() WHERE id % 100 <> 0",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();

    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    let [pick, take] = CLAIM_STATEMENTS;
    let plans = [
        (
            "pick",
            format!(
                "PREPARE pick(text[], text[], int[], text, bigint, float8, timestamptz, boolean) \
                 AS {pick}"
            ),
            "EXECUTE pick(NULL, NULL, NULL, NULL, 8, 60, now(), true)",
        ),
        (
            "take",
            format!(
                "PREPARE take(text[], text[], int[], text, bigint, float8, timestamptz, boolean, \
                 timestamptz[]) AS {take}"
            ),
            "EXECUTE take('{t,t}', '{a,b}', '{4,4}', 'w#1', 8, 60, now(), true, \
             '{-infinity,-infinity}')",
        ),
    ];
    for (name, prepare, execute) in plans {
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
            .execute(&mut *conn)
            .await
            .unwrap();
        let plan = lines_of(&mut conn, format!("EXPLAIN {execute}"))
            .await
            .join("\n");
        eprintln!("{name}, planned generically:\n{plan}\n");
        assert!(
            !plan.contains("Seq Scan on lmsw_deliveries"),
            "{name} scans the table:\n{plan}"
        );
        assert!(plan.contains("lmsw_deliveries_queue"), "{name}:\n{plan}");
    }
    // A large cap reads no more of an endpoint's queue than the claim can take (8 here), not
    // the cap's worth (the 200 queued for each endpoint).
    let analyzed = lines_of(
        &mut conn,
        "BEGIN; EXPLAIN (ANALYZE, TIMING OFF) EXECUTE take('{t,t,t}', '{a,b,c}', \
         '{10000,10000,10000}', 'w#0', 8, 60, now(), true, '{-infinity,-infinity,-infinity}'); \
         ROLLBACK"
            .to_owned(),
    )
    .await;
    let queue_scan = analyzed
        .iter()
        .find(|line| line.contains("Index Scan using lmsw_deliveries_queue"))
        .unwrap_or_else(|| panic!("{analyzed:#?}"));
    let rows: usize = queue_scan
        .split("rows=")
        .nth(2)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{queue_scan}"));
    assert!((1..=8).contains(&rows), "{}", analyzed.join("\n"));
    // And, planned generically, the claim does its work in one call: 8 deliveries leased,
    // round-robin over the three endpoints (3, 3, 2), none past an endpoint's cap of 4.
    let claimed =
        sqlx::query("SELECT * FROM lmsw_claim(NULL, NULL, NULL, 'w#1', 8, 60, now(), true, NULL)")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let mut per_endpoint = HashMap::<String, usize>::new();
    for row in &claimed {
        *per_endpoint.entry(row.get("endpoint_id")).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_endpoint.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, [2, 3, 3], "{per_endpoint:?}");
    let again =
        sqlx::query("SELECT * FROM lmsw_claim(NULL, NULL, NULL, 'w#2', 8, 60, now(), true, NULL)")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(again.len(), 4, "the caps left room for 1 + 1 + 2");
}

/// A delivery whose endpoint is gone (a publish that raced the endpoint's deletion) is never
/// claimed: a worker whose queue runs dry ends it, logged as a deletion logs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_left_by_a_deleted_endpoint_ends() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 8).await;
    add(&outbox, "t", "kept", None).await;
    add(&outbox, "t", "gone", None).await;
    publish(&pool, &outbox, "t", 3).await;
    outbox.delete_endpoint("t", "gone").await.unwrap();
    // As if a publish had read the endpoint just before it was deleted.
    sqlx::query(
        "INSERT INTO lmsw_deliveries (tenant, event_id, endpoint_id, state, next_due)
         SELECT tenant, event_id, 'gone', 'pending', now() FROM lmsw_messages
         ON CONFLICT DO NOTHING",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE lmsw_deliveries SET state = 'pending', gave_up_reason = NULL, gave_up_at = NULL,
           finished_at = NULL, next_due = now() WHERE endpoint_id = 'gone'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (transport, _openers) = Gated::new(&[]);
    let stats = Worker::new(outbox.clone(), transport.clone())
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(stats.delivered, 3);
    assert_eq!(transport.done("/gone"), 0);
    let ended: Vec<(String, Option<String>)> =
        sqlx::query("SELECT state, gave_up_reason FROM lmsw_deliveries WHERE endpoint_id = 'gone'")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get("state"), row.get("gave_up_reason")))
            .collect();
    assert_eq!(ended.len(), 3);
    for (state, reason) in ended {
        assert_eq!(
            (state.as_str(), reason.as_deref()),
            ("gave_up", Some("endpoint_deleted"))
        );
    }
    let noted: i64 = sqlx::query(
        "SELECT count(*) AS n FROM lmsw_operations o JOIN lmsw_deliveries d ON d.id = o.delivery_id
         WHERE d.endpoint_id = 'gone' AND o.action = 'endpoint_deleted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get("n");
    assert!(noted >= 3, "{noted}");
}

/// The grouped write claims the room it frees in the same call: with a cap of one, the claim
/// that runs after the write (`lmsw_record_claim`) leases the next delivery, which it could
/// not if it read the leases as they were before the write (one snapshot for both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grouped_write_claims_the_room_it_frees() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 8).await;
    add(&outbox, "t", "one", Some(1)).await;
    publish(&pool, &outbox, "t", 2).await;
    let claim =
        "SELECT id, event_id FROM lmsw_claim(NULL, NULL, NULL, $1, 5, 60, now(), false, NULL)";
    let first = sqlx::query(claim).bind("a").fetch_all(&pool).await.unwrap();
    assert_eq!(first.len(), 1, "the cap of one leases one");
    let (id, event): (i64, String) = (first[0].get("id"), first[0].get("event_id"));
    assert!(sqlx::query(claim)
        .bind("x")
        .fetch_all(&pool)
        .await
        .unwrap()
        .is_empty());
    let rows = sqlx::query(
        "SELECT written, id FROM lmsw_record_claim(ARRAY['a'], ARRAY[$1::bigint], ARRAY['done'],
           ARRAY[NULL::timestamptz], ARRAY[1], ARRAY[NULL::timestamptz], ARRAY[1], ARRAY['t'],
           ARRAY[$2], ARRAY['one'], ARRAY[now()], ARRAY[3::bigint], ARRAY[200],
           ARRAY[NULL::text], ARRAY['delivered'], ARRAY[''], ARRAY[NULL::text],
           ARRAY[NULL::timestamptz], 'b', 5, 60, now(), false)",
    )
    .bind(id)
    .bind(&event)
    .fetch_all(&pool)
    .await
    .unwrap();
    let written: Vec<Option<Vec<i64>>> = rows.iter().map(|r| r.get("written")).collect();
    assert_eq!(
        written,
        [Some(vec![id]), None],
        "the write's ids, then one claimed row"
    );
    let next: i64 = rows[1].get("id");
    assert_ne!(next, id);
    let owners: Vec<(i64, String, Option<String>)> =
        sqlx::query("SELECT id, state, lease_owner FROM lmsw_deliveries ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("id"), r.get("state"), r.get("lease_owner")))
            .collect();
    assert_eq!(
        owners,
        [
            (id, "done".to_owned(), None),
            (next, "pending".to_owned(), Some("b".to_owned()))
        ]
    );
}

/// Claims lock and mark an endpoint's lane, a narrow row of its own (migration 13): it comes
/// with the endpoint, however the endpoint is added, and goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_s_lane_comes_and_goes_with_it() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 4).await;
    add(&outbox, "t", "a", None).await;
    add(&outbox, "t", "b", Some(2)).await;
    // Each lane, and whether it was never served.
    let fresh = || async {
        lanes(&pool)
            .await
            .into_iter()
            .map(|(id, served)| (id, served == "-infinity"))
            .collect::<Vec<_>>()
    };
    assert_eq!(fresh().await, [("a".into(), true), ("b".into(), true)]);
    publish(&pool, &outbox, "t", 1).await;
    assert_eq!(claim_all(&pool).await, 2);
    assert_eq!(fresh().await, [("a".into(), false), ("b".into(), false)]);
    outbox.delete_endpoint("t", "a").await.unwrap();
    assert_eq!(fresh().await, [("b".into(), false)]);
}

/// Every lane: its endpoint and the day it was last served (`-infinity`: never).
async fn lanes(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query(
        "SELECT endpoint_id,
           coalesce(to_char(served_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), served_at::text) AS served
         FROM lmsw_lanes ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("endpoint_id"), r.get("served")))
    .collect()
}

/// Claims up to 8 due deliveries for a worker `w#1`: how many it leased.
async fn claim_all(pool: &PgPool) -> usize {
    sqlx::query("SELECT id FROM lmsw_claim(NULL, NULL, NULL, 'w#1', 8, 60, now(), false, NULL)")
        .fetch_all(pool)
        .await
        .unwrap()
        .len()
}

/// Migration 13 gives the endpoints that exist before it their lanes, with when each was last
/// served, and the claim serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_13_gives_existing_endpoints_their_lanes() {
    let pg = Pg::start();
    let pool = PgPool::connect(&pg.fresh_database().await).await.unwrap();
    migrate_to(&pool, 12).await.unwrap();
    let outbox = Outbox::open(pool.clone(), MasterKey::parse(KEY).unwrap())
        .await
        .unwrap();
    add(&outbox, "t", "a", None).await;
    add(&outbox, "t", "b", None).await;
    sqlx::query("UPDATE lmsw_endpoints SET served_at = '2026-01-01T00:00:00Z' WHERE id = 'a'")
        .execute(&pool)
        .await
        .unwrap();
    publish(&pool, &outbox, "t", 1).await;
    migrate(&pool).await.unwrap();
    assert_eq!(
        lanes(&pool).await,
        [
            ("a".to_owned(), "2026-01-01".to_owned()),
            ("b".to_owned(), "-infinity".to_owned())
        ]
    );
    assert_eq!(claim_all(&pool).await, 2);
}

/// The rows of `sql` (an `EXPLAIN`), as text lines.
async fn lines_of(conn: &mut sqlx::PgConnection, sql: String) -> Vec<String> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}
