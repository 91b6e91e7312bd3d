//! One way to run an attempt: the same scripted scenario through the in-memory registry, the
//! transport driver and the PostgreSQL worker (each on a fake clock, over a scripted
//! transport) makes the same attempts at the same times, signs them with the same secrets,
//! and leaves the endpoint in the same health.
//!
//! The scenario, one event after the other: 500, a timeout, 200; the secret rotated (a day's
//! grace: two signatures from then on); 500 until the schedule gives up; the endpoint paused
//! (the third event is held, not attempted), resumed, and that event answered 410 (the
//! endpoint disabled).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, Next, Outcome, RequestError};
use lms_webhooks::endpoint::Registry;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::transport::{BlockingDriver, BlockingTransport, Clock, Finished, Transport};
use lms_webhooks::{Endpoint, EndpointStatus, Envelope, Event, EventType, SuccessRule, Timestamp};
use lms_webhooks_postgres::Worker;
use sqlx::Row;
use support::clock::FakeClock;
use support::pg::Pg;
use support::store::{fresh_outbox, loopback};

const DAY: Duration = Duration::from_secs(86_400);

fn script() -> Vec<Outcome> {
    let mut s = vec![Outcome::status(500), Outcome::Timeout, Outcome::status(200)];
    // The second event: 500 until the (short) schedule runs out.
    s.extend(std::iter::repeat_n(Outcome::status(500), 3));
    s.push(Outcome::status(410));
    s
}

/// How many signatures a request carries.
fn signatures(request: &http::Request<bytes::Bytes>) -> usize {
    request
        .headers()
        .get("webhook-signature")
        .and_then(|v| v.to_str().ok())
        .map_or(0, |v| v.split_whitespace().count())
}

/// Answers from the script, in order, and notes each request's signatures.
struct Scripted {
    answers: Mutex<std::vec::IntoIter<Outcome>>,
    signed: Arc<Mutex<Vec<usize>>>,
}

impl Scripted {
    fn new() -> Scripted {
        Scripted {
            answers: Mutex::new(script().into_iter()),
            signed: Arc::default(),
        }
    }

    fn answer(&self, request: &http::Request<bytes::Bytes>) -> Outcome {
        self.signed.lock().unwrap().push(signatures(request));
        self.answers.lock().unwrap().next().unwrap()
    }
}

impl BlockingTransport for Scripted {
    fn send(&self, request: http::Request<bytes::Bytes>) -> Outcome {
        self.answer(&request)
    }
}

impl Transport for Scripted {
    async fn send(&self, request: http::Request<bytes::Bytes>) -> Outcome {
        self.answer(&request)
    }
}

/// What a runner did: the decisions, each delivery's attempt times (milliseconds since its
/// first), each request's number of signatures, and the endpoint's health at the end.
#[derive(Debug, PartialEq)]
struct Run {
    decided: Vec<&'static str>,
    timeline: Vec<Vec<i64>>,
    signed: Vec<usize>,
    status: EndpointStatus,
    consecutive_failures: u32,
    failing: bool,
}

impl Run {
    fn new(
        decided: Vec<&'static str>,
        timeline: Vec<Vec<i64>>,
        signed: Vec<usize>,
        health: lms_webhooks::endpoint::Health,
    ) -> Run {
        Run {
            decided,
            timeline,
            signed,
            status: health.status,
            consecutive_failures: health.consecutive_failures,
            failing: health.failing_since.is_some(),
        }
    }
}

fn name(next: Next) -> &'static str {
    match next {
        Next::Done => "delivered",
        Next::RetryAt(_) => "retry",
        Next::GaveUp(_) => "gave_up",
    }
}

/// Each time as milliseconds since the first.
fn since_first(times: impl IntoIterator<Item = Timestamp>) -> Vec<i64> {
    let times: Vec<Timestamp> = times.into_iter().collect();
    times
        .iter()
        .map(|t| {
            let d = t.duration_since(times[0]).unwrap_or_default();
            i64::try_from(d.as_millis()).unwrap()
        })
        .collect()
}

fn endpoint() -> Endpoint {
    let (endpoint, _) =
        Endpoint::create(Timestamp::now(), "crm", "http://127.0.0.1:9/x", &loopback()).unwrap();
    endpoint.with_delivery(
        RetrySchedule::fixed([Duration::from_secs(1); 2]),
        SuccessRule::Any2xx,
    )
}

fn events() -> Vec<Envelope> {
    (0..3)
        .map(|_| Envelope::new(Event::sample(EventType::CrmContactTagAdded)))
        .collect()
}

fn crm(registry: &mut Registry) -> &mut Endpoint {
    registry.get_mut("crm").unwrap()
}

/// In memory: the registry, its requests sent by hand.
fn by_registry(endpoint: &Endpoint, events: &[Envelope]) -> Run {
    let mut registry = Registry::new();
    registry.add(endpoint.clone()).unwrap();
    let transport = Scripted::new();
    let (mut decided, mut timeline) = (Vec::new(), Vec::new());
    let mut now = Timestamp::from_unix(Timestamp::now().unix()).unwrap();
    for (i, envelope) in events.iter().enumerate() {
        if i == 1 {
            crm(&mut registry).rotate_secret(now, DAY).unwrap();
        }
        let mut d = Delivery::new(
            now,
            envelope.id().as_str(),
            "crm",
            envelope.to_vec().unwrap(),
        );
        if i == 2 {
            crm(&mut registry).pause(now);
            let held = registry.request(now, &mut d).unwrap_err();
            assert!(matches!(held, RequestError::Held { .. }), "{held:?}");
            crm(&mut registry).resume(now);
        }
        loop {
            let request = registry.request(now, &mut d).unwrap();
            let next = registry
                .record(now, &mut d, transport.answer(&request))
                .unwrap();
            decided.push(name(next));
            match next {
                Next::RetryAt(at) => now = at,
                _ => break,
            }
        }
        timeline.push(since_first(d.attempts().iter().map(|a| a.started_at)));
    }
    let signed = transport.signed.lock().unwrap().clone();
    Run::new(
        decided,
        timeline,
        signed,
        registry.get("crm").unwrap().health(),
    )
}

/// The blocking transport driver, on a fake clock that its sleeps move.
fn by_driver(endpoint: &Endpoint, events: &[Envelope]) -> Run {
    let driven = Mutex::new(Registry::new());
    driven.lock().unwrap().add(endpoint.clone()).unwrap();
    let transport = Scripted::new();
    let clock = std::cell::Cell::new(Timestamp::from_unix(Timestamp::now().unix()).unwrap());
    let now_of = || clock.get();
    let driver = BlockingDriver::new(&driven, &transport, &now_of);
    let (mut decided, mut timeline) = (Vec::new(), Vec::new());
    let edit = |f: &dyn Fn(&mut Endpoint)| f(driven.lock().unwrap().get_mut("crm").unwrap());
    for (i, envelope) in events.iter().enumerate() {
        if i == 1 {
            edit(&|e| drop(e.rotate_secret(clock.get(), DAY).unwrap()));
        }
        let body = envelope.to_vec().unwrap();
        let mut d = Delivery::new(clock.get(), envelope.id().as_str(), "crm", body);
        let mut run = |d: &mut Delivery| {
            driver
                .run(
                    d,
                    |wait| clock.set(clock.get().saturating_add(wait)),
                    |_, next| decided.push(name(next)),
                )
                .unwrap()
        };
        if i == 2 {
            edit(&|e| e.pause(clock.get()));
            assert_eq!(run(&mut d), Finished::Held(EndpointStatus::Paused));
            edit(&|e| e.resume(clock.get()));
        }
        run(&mut d);
        timeline.push(since_first(d.attempts().iter().map(|a| a.started_at)));
    }
    let signed = transport.signed.lock().unwrap().clone();
    let health = driven.lock().unwrap().get("crm").unwrap().health();
    Run::new(decided, timeline, signed, health)
}

/// On PostgreSQL: the worker, on a fake clock that stands still while an attempt is under
/// way and is moved to the next due delivery when none is (as the driver's sleeps move its
/// own); the edits through the outbox.
async fn by_worker(endpoint: &Endpoint, events: &[Envelope]) -> Run {
    let pg = Pg::start();
    let (pool, outbox) = fresh_outbox(&pg, 10).await;
    outbox.add_endpoint("t", endpoint, None).await.unwrap();
    let clock = FakeClock::at(Timestamp::now());
    let transport = Scripted::new();
    let signatures = Arc::clone(&transport.signed);
    let worker = Worker::new(outbox.clone(), transport)
        .with_poll_interval(Duration::from_millis(10))
        .with_clock(clock.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.run(async { stopped.await.unwrap_or(()) }).await }
    });
    let edit = |f: fn(&mut Endpoint, Timestamp)| {
        let (outbox, now) = (outbox.clone(), clock.now());
        async move {
            outbox
                .edit_endpoint("t", "crm", |e| {
                    f(e, now);
                    Ok(())
                })
                .await
                .unwrap()
        }
    };
    for (i, envelope) in events.iter().enumerate() {
        if i == 1 {
            edit(|e, now| drop(e.rotate_secret(now, DAY).unwrap())).await;
        }
        if i == 2 {
            edit(|e, now| e.pause(now)).await;
        }
        let mut tx = pool.begin().await.unwrap();
        outbox.publish(&mut tx, "t", envelope).await.unwrap();
        tx.commit().await.unwrap();
        move_clock_until_idle(&pool, &clock).await;
        if i == 2 {
            let held: String =
                sqlx::query_scalar("SELECT state FROM lmsw_deliveries WHERE event_id = $1")
                    .bind(envelope.id().as_str())
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(held, "held");
            edit(|e, now| e.resume(now)).await;
            move_clock_until_idle(&pool, &clock).await;
        }
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    let rows = sqlx::query(
        "SELECT delivery_id, started_at, result FROM lmsw_attempts ORDER BY delivery_id, number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut decided = Vec::new();
    let mut by_delivery = std::collections::BTreeMap::<i64, Vec<Timestamp>>::new();
    for row in rows {
        let at: time::OffsetDateTime = row.get("started_at");
        by_delivery
            .entry(row.get("delivery_id"))
            .or_default()
            .push(Timestamp::try_from(at).unwrap());
        decided.push(match row.get::<String, _>("result").as_str() {
            "delivered" => "delivered",
            "retry" => "retry",
            "gave_up" => "gave_up",
            other => panic!("result {other}"),
        });
    }
    let health = outbox.endpoint("t", "crm").await.unwrap().health();
    let signed = signatures.lock().unwrap().clone();
    let timeline = by_delivery.into_values().map(since_first).collect();
    Run::new(decided, timeline, signed, health)
}

/// Moves `clock` to the next due delivery whenever none is leased and none is due, until none
/// is pending or leased.
async fn move_clock_until_idle(pool: &sqlx::PgPool, clock: &FakeClock) {
    loop {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE lease_owner IS NOT NULL) AS leased,
                    min(next_due) FILTER (WHERE lease_owner IS NULL) AS next
             FROM lmsw_deliveries WHERE state = 'pending'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let leased: i64 = row.get("leased");
        let next: Option<time::OffsetDateTime> = row.get("next");
        match next.map(|t| Timestamp::try_from(t).unwrap()) {
            None if leased == 0 => return,
            Some(next) if leased == 0 && next > clock.now() => clock.set(next),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_the_driver_and_the_postgres_worker_run_a_scenario_alike() {
    let (endpoint, events) = (endpoint(), events());
    let memory = by_registry(&endpoint, &events);
    assert_eq!(
        memory,
        Run {
            decided: vec![
                "retry",
                "retry",
                "delivered",
                "retry",
                "retry",
                "gave_up",
                "gave_up"
            ],
            timeline: vec![vec![0, 1_000, 2_000], vec![0, 1_000, 2_000], vec![0]],
            signed: vec![1, 1, 1, 2, 2, 2, 2],
            status: EndpointStatus::Disabled,
            consecutive_failures: 1,
            failing: true,
        },
        "the scenario, in memory"
    );
    assert_eq!(by_driver(&endpoint, &events), memory, "the driver");
    assert_eq!(by_worker(&endpoint, &events).await, memory, "the worker");
}
