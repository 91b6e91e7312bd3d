//! Workers on a real PostgreSQL started by the test, delivering to real receivers on loopback:
//! events × 3 endpoints through 4 concurrent workers, one killed mid-run, with a rotation, a
//! pause, a disable and a recovery in the middle. Every endpoint must receive every event at
//! least once with a valid signature.
//!
//! `LMSW_EVENTS` sets the number of events (default 1,000; CI runs 10,000).

#[path = "../../examples/support/inbound.rs"]
mod inbound;
mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{
    Endpoint, Envelope, Event, EventType, Profile, Receiver, Secret, SuccessRule, Timestamp,
};
use lms_webhooks_postgres::Worker;
use sqlx::Row;
use support::pg::Pg;
use support::store::{fresh_outbox, loopback, loopback_transport};

/// A receiver on loopback: verifies with the secrets it knows now, records what it accepted.
#[derive(Clone, Default)]
struct Inbox {
    secrets: Arc<Mutex<Vec<Secret>>>,
    accepted: Arc<Mutex<HashSet<String>>>,
    refused: Arc<Mutex<u64>>,
    requests: Arc<Mutex<u64>>,
}

impl Inbox {
    fn start(&self, fail_every: u64) -> String {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
        let me = self.clone();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let (headers, body) = inbound::read(&mut request);
                let n = {
                    let mut requests = me.requests.lock().unwrap();
                    *requests += 1;
                    *requests
                };
                let mut receiver = Receiver::new(Profile::standard());
                for s in me.secrets.lock().unwrap().iter() {
                    receiver = receiver.with_secret(s.clone());
                }
                let status = match receiver.receive(Timestamp::now(), &headers, &body) {
                    // Some plain failures, so that retries happen.
                    Ok(_) if fail_every > 0 && n % fail_every == 0 => 500,
                    Ok(got) => {
                        me.accepted.lock().unwrap().insert(got.id);
                        200
                    }
                    Err(_) => {
                        *me.refused.lock().unwrap() += 1;
                        401
                    }
                };
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        url
    }

    fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_receives_every_event_through_crashes_and_admin_changes() {
    let events: usize = std::env::var("LMSW_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 60).await;
    let policy = loopback();

    let inboxes = [Inbox::default(), Inbox::default(), Inbox::default()];
    let ids = ["ep_a", "ep_b", "ep_c"];
    let started = Timestamp::now();
    for (i, (inbox, id)) in inboxes.iter().zip(ids).enumerate() {
        let url = inbox.start([0, 7, 11][i]);
        let (e, shown) = Endpoint::create(started, id, &url, &policy).unwrap();
        inbox
            .secrets
            .lock()
            .unwrap()
            .push(Secret::parse(&shown).unwrap());
        let e = e
            .with_delivery(
                RetrySchedule::fixed(
                    [100, 200, 400, 800, 1600, 3200, 3200, 3200].map(Duration::from_millis),
                ),
                SuccessRule::Any2xx,
            )
            .with_failure_rule(1_000_000, Duration::from_secs(86_400));
        outbox.add_endpoint("school", &e, None).await.unwrap();
    }

    // Publish everything first (in batches, each in a host transaction), then work.
    let mut published = Vec::with_capacity(events);
    for chunk in (0..events).collect::<Vec<_>>().chunks(200) {
        let mut tx = pool.begin().await.unwrap();
        for &i in chunk {
            let t = [
                EventType::SalesTransactionCompleted,
                EventType::CourseMemberCompleted,
                EventType::CrmContactTagAdded,
            ][i % 3];
            let envelope = Envelope::new(Event::sample(t));
            outbox.publish(&mut tx, "school", &envelope).await.unwrap();
            published.push(envelope.id().as_str().to_owned());
        }
        tx.commit().await.unwrap();
    }

    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy.clone())
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for n in 0..4 {
        let worker = Worker::new(outbox.clone(), transport.clone())
            .with_concurrency(6)
            .with_lease(Duration::from_secs(3))
            .with_poll_interval(Duration::from_millis(200));
        let owner = worker.owner().to_owned();
        let mut stop = stop_rx.clone();
        let handle = tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
        workers.push((n, owner, handle));
    }

    let clock = Instant::now();
    let until = |n: usize| {
        let inboxes = inboxes.clone();
        async move {
            while inboxes.iter().map(Inbox::count).min().unwrap_or(0) < n {
                let counts: Vec<usize> = inboxes.iter().map(Inbox::count).collect();
                assert!(
                    clock.elapsed() < Duration::from_secs(300),
                    "stalled: the receivers accepted {counts:?} of {n}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // A quarter in: kill a worker mid-run; whatever it held is leased until its lease ends.
    until(events / 4).await;
    let (_, killed_owner, killed) = workers.remove(3);
    killed.abort();
    let leased: i64 = sqlx::query("SELECT count(*) FROM lmsw_deliveries WHERE lease_owner = $1")
        .bind(&killed_owner)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);

    // Rotate ep_b's secret with no grace: its receiver knows only the new one from now on.
    let new_secret = outbox
        .edit_endpoint("school", "ep_b", |e| {
            Ok(e.rotate_secret(Timestamp::now(), Duration::ZERO).unwrap())
        })
        .await
        .unwrap();
    *inboxes[1].secrets.lock().unwrap() = vec![Secret::parse(&new_secret).unwrap()];

    // Pause ep_c for a moment.
    outbox
        .edit_endpoint("school", "ep_c", |e| {
            e.pause(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = outbox.stats().await.unwrap().held;
    outbox
        .edit_endpoint("school", "ep_c", |e| {
            e.resume(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();

    // Disable ep_a: its queued deliveries end. Then reactivate it and recover them.
    outbox
        .edit_endpoint("school", "ep_a", |e| {
            e.disable(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    outbox
        .edit_endpoint("school", "ep_a", |e| {
            e.reactivate(Timestamp::now());
            Ok(())
        })
        .await
        .unwrap();
    // Attempts in flight during the reactivation settle first: a delivery that a worker ends
    // (endpoint disabled) after the recovery is not part of it, by design.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let recovered = outbox
        .recover("school", "ep_a", started, "test", "disabled by mistake")
        .await
        .unwrap();

    until(events).await;
    stop_tx.send(true).unwrap();
    let mut attempts = 0;
    for (_, _, handle) in workers {
        attempts += handle.await.unwrap().unwrap().attempts;
    }

    for (inbox, id) in inboxes.iter().zip(ids) {
        let accepted = inbox.accepted.lock().unwrap();
        let missing = published.iter().filter(|e| !accepted.contains(*e)).count();
        assert_eq!(missing, 0, "{id} missed events");
    }
    let refused_b = *inboxes[1].refused.lock().unwrap();
    let log = outbox
        .log("school", None, Some("ep_a"), 5, 0)
        .await
        .unwrap();
    assert!(!log.is_empty() && log.iter().all(|e| e.endpoint == "ep_a"));
    // The log of one event: its attempts to all three endpoints.
    let by_event = outbox
        .log("school", Some(&published[0]), None, 100, 0)
        .await
        .unwrap();
    let endpoints: HashSet<&str> = by_event.iter().map(|e| e.endpoint.as_str()).collect();
    assert_eq!(endpoints.len(), 3, "{by_event:?}");
    assert!(by_event.iter().all(|e| e.event == published[0]));
    let stats = outbox.stats().await.unwrap();
    println!(
        "postgres workers: {events} events × 3 endpoints in {:.1} s; {attempts} attempts by the \
         surviving workers; {leased} deliveries leased by the killed worker; {held} held while \
         paused; {recovered} recovered after the disable; {refused_b} requests refused by ep_b \
         during its rotation; left pending {}",
        clock.elapsed().as_secs_f64(),
        stats.pending
    );
}

/// A loopback server answering `status()` to everything.
fn answering(status: impl Fn() -> u16 + Send + 'static) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::empty(status()));
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_hook_and_a_test_ping_reactivates_a_failed_endpoint() {
    use lms_webhooks::delivery::{GiveUpReason, Next};
    use lms_webhooks::EndpointStatus;
    use lms_webhooks_postgres::Notice;
    use std::sync::atomic::{AtomicU16, Ordering};

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let policy = loopback();
    let failing = Arc::new(AtomicU16::new(500));
    let flaky = Arc::new(AtomicU16::new(500));
    let (f, k) = (Arc::clone(&failing), Arc::clone(&flaky));
    for (id, url, threshold) in [
        ("ep_gone", answering(|| 410), 1),
        ("ep_fail", answering(move || f.load(Ordering::SeqCst)), 1),
        ("ep_flaky", answering(move || k.load(Ordering::SeqCst)), 5),
    ] {
        let (e, _) = Endpoint::create(Timestamp::now(), id, &url, &policy).unwrap();
        let e = e
            .with_delivery(RetrySchedule::none(), SuccessRule::Any2xx)
            .with_failure_rule(threshold, Duration::from_secs(86_400));
        outbox.add_endpoint("t", &e, None).await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    outbox.publish(&mut tx, "t", &sale).await.unwrap();
    tx.commit().await.unwrap();

    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&notices);
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy)
        .unwrap();
    Worker::new(outbox.clone(), transport.clone())
        .with_poll_interval(Duration::from_millis(50))
        .with_hook(move |n| seen.lock().unwrap().push(n))
        .run_until_idle()
        .await
        .unwrap();
    let notices = notices.lock().unwrap().clone();
    let has = |wanted: &Notice| notices.contains(wanted);
    let t = || "t".to_owned();
    assert!(has(&Notice::EndpointDisabled {
        tenant: t(),
        endpoint: "ep_gone".to_owned()
    }));
    assert!(has(&Notice::EndpointFailed {
        tenant: t(),
        endpoint: "ep_fail".to_owned()
    }));
    assert!(has(&Notice::DeliveryGaveUp {
        tenant: t(),
        event: sale.id().as_str().to_owned(),
        endpoint: "ep_gone".to_owned(),
        reason: GiveUpReason::Gone
    }));

    // The Test button: still failing, it stays Failed; once the receiver is fixed, a delivered
    // ping reactivates it. Both pings are in the log.
    assert!(matches!(
        outbox.test_ping("t", "ep_fail", &transport).await.unwrap(),
        Next::GaveUp(_)
    ));
    assert_eq!(
        outbox.endpoint("t", "ep_fail").await.unwrap().status(),
        EndpointStatus::Failed
    );
    failing.store(200, Ordering::SeqCst);
    assert_eq!(
        outbox.test_ping("t", "ep_fail", &transport).await.unwrap(),
        Next::Done
    );
    assert_eq!(
        outbox.endpoint("t", "ep_fail").await.unwrap().status(),
        EndpointStatus::Active
    );
    let log = outbox.log("t", None, Some("ep_fail"), 10, 0).await.unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0].result, "delivered");

    // ep_flaky lost one delivery (below its threshold of 5, it stayed Active); fixed, its next
    // delivery tells the hook it recovered. ep_fail was reactivated by the ping (its count was
    // reset): nothing to tell of it.
    assert_eq!(
        outbox.endpoint("t", "ep_flaky").await.unwrap().status(),
        EndpointStatus::Active
    );
    assert!(!notices
        .iter()
        .any(|n| matches!(n, Notice::EndpointRecovered { .. })));
    flaky.store(200, Ordering::SeqCst);
    let mut tx = pool.begin().await.unwrap();
    let enrolled = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
    outbox.publish(&mut tx, "t", &enrolled).await.unwrap();
    tx.commit().await.unwrap();
    let later = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&later);
    Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(50))
        .with_hook(move |n| seen.lock().unwrap().push(n))
        .run_until_idle()
        .await
        .unwrap();
    let later = later.lock().unwrap().clone();
    assert_eq!(
        later,
        [Notice::EndpointRecovered {
            tenant: t(),
            endpoint: "ep_flaky".to_owned(),
            after_failures: 1
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_workers() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let policy = loopback();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            seen.lock().unwrap().push(Instant::now());
            let _ = request.respond(tiny_http::Response::empty(200));
        }
    });
    let (e, _) = Endpoint::create(Timestamp::now(), "ep", &url, &policy).unwrap();
    outbox.add_endpoint("t", &e, None).await.unwrap();
    outbox.set_rate_limit("t", "ep", Some(20.0)).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..60 {
        let envelope = Envelope::new(Event::sample(EventType::CrmContactTagAdded));
        outbox.publish(&mut tx, "t", &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();

    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy)
        .unwrap();
    let started = Instant::now();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let worker = Worker::new(outbox.clone(), transport.clone())
                .with_concurrency(8)
                .with_poll_interval(Duration::from_millis(20));
            tokio::spawn(async move { worker.run_until_idle().await })
        })
        .collect();
    let mut delivered = 0;
    for run in runs {
        delivered += run.await.unwrap().unwrap().delivered;
    }
    assert_eq!(delivered, 60);
    // 60 at 20 a second with a one-second burst: at least two seconds, and never more than a
    // burst plus a second's worth in any one second.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    for (i, &a) in arrivals.iter().enumerate() {
        let within = arrivals[i..]
            .iter()
            .take_while(|&&b| b.duration_since(a) < Duration::from_secs(1))
            .count();
        assert!(within <= 41, "{within} deliveries within one second");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_attempt_loses_nothing() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let policy = loopback();
    // A slow receiver: the attempt is in flight long enough to cut the database under it.
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&received);
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let (headers, _) = inbound::read(&mut request);
            std::thread::sleep(Duration::from_millis(700));
            let id = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("webhook-id"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            seen.lock().unwrap().push(id);
            let _ = request.respond(tiny_http::Response::empty(200));
        }
    });
    let (e, _) = Endpoint::create(Timestamp::now(), "ep", &url, &policy).unwrap();
    outbox.add_endpoint("t", &e, None).await.unwrap();
    let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let mut tx = pool.begin().await.unwrap();
    outbox.publish(&mut tx, "t", &sale).await.unwrap();
    tx.commit().await.unwrap();

    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy)
        .unwrap();
    let worker = Worker::new(outbox.clone(), transport)
        .with_concurrency(1)
        .with_lease(Duration::from_secs(2))
        .with_poll_interval(Duration::from_millis(100));
    let run = tokio::spawn(async move { worker.run_until_idle().await });
    // While the request is at the receiver, every other connection to the database is cut:
    // the worker's connections (pool and listener) all break.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let database: String = sqlx::query("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    let admin = sqlx::PgPool::connect(pg.url()).await.unwrap();
    let cut: i64 = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_one(&admin)
    .await
    .unwrap()
    .get(0);
    assert!(cut > 0, "no connection was cut");
    let stats = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the worker finishes")
        .unwrap();
    // The worker may have stopped on the lost connection, or finished: either way nothing is
    // lost. A worker that runs afterwards (or the same one) delivers what the lease freed.
    if stats.is_err() || outbox.stats().await.unwrap().pending > 0 {
        tokio::time::sleep(Duration::from_secs(2)).await; // the lease runs out
        let transport = loopback_transport();
        Worker::new(outbox.clone(), transport)
            .with_poll_interval(Duration::from_millis(100))
            .run_until_idle()
            .await
            .unwrap();
    }
    let state: String = sqlx::query("SELECT state FROM lmsw_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "done");
    let received = received.lock().unwrap().clone();
    assert!(
        received.iter().any(|id| id == sale.id().as_str()),
        "{received:?}"
    );
}

/// An attempt longer than the lease extends it (a heartbeat) instead of being claimed and sent
/// again: one worker with 1 s leases and eight slots, an endpoint that takes 3.5 s to answer four events.
/// Before the heartbeat, the worker's other claimer took each delivery again every second and
/// sent it three or four times (the `--lease 2` with a 15 s timeout report: 46 requests for 10
/// events), and each claim wrote its own attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_longer_than_the_lease_is_sent_once() {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let policy = loopback();
    let requests = Arc::new(Mutex::new(0u32));
    let seen = Arc::clone(&requests);
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            *seen.lock().unwrap() += 1;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3_500));
                let _ = request.respond(tiny_http::Response::empty(200));
            });
        }
    });
    let (e, _) = Endpoint::create(Timestamp::now(), "slow", &url, &policy).unwrap();
    outbox.add_endpoint("t", &e, None).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    // Four: tiny_http serves four connections at once.
    for _ in 0..4 {
        let envelope = Envelope::new(Event::sample(EventType::CrmContactTagAdded));
        outbox.publish(&mut tx, "t", &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();

    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(15))
        .unwrap()
        .with_policy(policy)
        .unwrap();
    let stats = Worker::new(outbox.clone(), transport)
        .with_concurrency(8)
        .with_lease(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle()
        .await
        .unwrap();
    let log: Vec<(i64, i32, Option<i32>)> =
        sqlx::query_as("SELECT delivery_id, number, status FROM lmsw_attempts ORDER BY 1, 2")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stats.delivered, 4, "{log:?}");
    assert_eq!(stats.attempts, 4, "{stats:?} {log:?}");
    assert_eq!(*requests.lock().unwrap(), 4, "each event sent once");
    let attempts: i64 = sqlx::query("SELECT count(*) AS n FROM lmsw_attempts")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(attempts, 4);
}

/// A worker keeps working through deliveries it cannot attempt: a delivery row that cannot be
/// read, and an endpoint whose sealed settings cannot be opened, are parked with the reason
/// (and a notice), and every other delivery is delivered. Before, the first such error made
/// the whole worker return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_parks_what_it_cannot_attempt_and_keeps_working() {
    use lms_webhooks_postgres::Notice;

    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    let policy = loopback();
    let url = answering(|| 200);
    for id in ["ok", "broken"] {
        let (e, _) = Endpoint::create(Timestamp::now(), id, &url, &policy).unwrap();
        outbox.add_endpoint("t", &e, None).await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    for _ in 0..3 {
        let envelope = Envelope::new(Event::sample(EventType::CrmContactTagAdded));
        outbox.publish(&mut tx, "t", &envelope).await.unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("UPDATE lmsw_endpoints SET sealed = 'not sealed' WHERE id = 'broken'")
        .execute(&pool)
        .await
        .unwrap();
    // Three attempts and no time for the round's first: the row contradicts itself.
    sqlx::query(
        "UPDATE lmsw_deliveries SET attempt_count = 3, round_first_at = NULL WHERE id =
           (SELECT min(id) FROM lmsw_deliveries WHERE endpoint_id = 'ok')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let notices = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&notices);
    let transport = ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(policy)
        .unwrap();
    let stats = Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(20))
        .with_hook(move |n| heard.lock().unwrap().push(n))
        .run_until_idle()
        .await
        .expect("the worker does not stop over one delivery");
    assert_eq!((stats.delivered, stats.parked), (2, 4), "{stats:?}");
    let parked: Vec<(String, String)> = sqlx::query_as(
        "SELECT endpoint_id, parked_reason FROM lmsw_deliveries WHERE state = 'parked'
         ORDER BY endpoint_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(parked.len(), 4);
    assert_eq!(parked.iter().filter(|(e, _)| e == "broken").count(), 3);
    assert!(
        parked.iter().all(|(_, reason)| !reason.is_empty()),
        "{parked:?}"
    );
    let notices = notices.lock().unwrap();
    let parked_notices = notices
        .iter()
        .filter(|n| matches!(n, Notice::DeliveryParked { .. }))
        .count();
    assert_eq!(parked_notices, 4, "{notices:?}");
}
