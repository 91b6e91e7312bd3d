//! The delivery state machine and retry schedules, on a simulated clock.

use std::time::Duration;

use lms_webhooks::delivery::{
    Delivery, GiveUpReason, Next, Outcome, RecordError, RequestError, State, SuccessRule, Target,
};
use lms_webhooks::endpoint::UrlPolicy;
use lms_webhooks::retry::{Jitter, RetrySchedule};
use lms_webhooks::signature::Verifier;
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Scheme, Secret, Timestamp};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

const T0: i64 = 1_800_000_000;

fn secret() -> Secret {
    Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
}

fn url(text: &str) -> lms_webhooks::DeliveryUrl {
    UrlPolicy::new().check(text).unwrap()
}

/// A delivery, and its endpoint's settings.
fn delivery(schedule: RetrySchedule) -> (Delivery, Target) {
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let target = Target::new(url("https://crm.example.com/hooks"))
        .with_secret(secret())
        .with_retry(schedule);
    let d = Delivery::new(
        at(T0),
        envelope.id().as_str(),
        "ep_crm",
        envelope.to_bytes().unwrap(),
    );
    (d, target)
}

/// Fails every attempt at the moment it is due; returns the delays and the final decision.
fn run_failing((mut d, t): (Delivery, Target), outcome: Outcome) -> (Vec<Duration>, Next, u32) {
    let mut now = at(T0);
    let mut delays = Vec::new();
    loop {
        d.next_request(now, &t).unwrap();
        match d.record(now, &t, outcome.clone()).unwrap() {
            Next::RetryAt(t) => {
                delays.push(t.duration_since(now).unwrap());
                now = t;
            }
            other => return (delays, other, d.attempt_count()),
        }
    }
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|&s| Duration::from_secs(s)).collect()
}

#[test]
fn learnybox_schedule_attempt_by_attempt() {
    let (delays, last, attempts) =
        run_failing(delivery(RetrySchedule::learnybox()), Outcome::status(500));
    assert_eq!(delays, secs(&[60, 300, 600, 3600]));
    assert_eq!(last, Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(attempts, 5);
}

#[test]
fn standard_webhooks_schedule_attempt_by_attempt() {
    let (delays, last, attempts) = run_failing(
        delivery(RetrySchedule::standard_webhooks()),
        Outcome::Timeout,
    );
    assert_eq!(delays, secs(&[5, 300, 1800, 7200, 18_000, 36_000, 36_000]));
    assert_eq!(last, Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(attempts, 8);
}

#[test]
fn learnworlds_schedule_doubles_twenty_times() {
    let (delays, last, attempts) = run_failing(
        delivery(RetrySchedule::learnworlds()),
        Outcome::error("connection refused"),
    );
    let expected: Vec<Duration> = (0..20).map(|n| Duration::from_secs(60 << n)).collect();
    assert_eq!(delays, expected);
    assert_eq!(delays[19], Duration::from_secs(524_288 * 60)); // about 364 days
    assert_eq!(last, Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(attempts, 21);

    let capped = RetrySchedule::learnworlds_capped(Duration::from_secs(86_400));
    let (delays, _, attempts) = run_failing(delivery(capped), Outcome::status(502));
    assert_eq!(attempts, 21);
    assert_eq!(*delays.iter().max().unwrap(), Duration::from_secs(86_400));
    assert_eq!(delays[..11], expected[..11]);
}

#[test]
fn fixed_exponential_and_age_limits() {
    let fixed = RetrySchedule::fixed(secs(&[1, 2, 3]));
    assert_eq!(fixed.attempt_limit(), Some(4));
    assert_eq!(fixed.delays(), secs(&[1, 2, 3]));
    let exp = RetrySchedule::exponential(Duration::from_secs(10), 3)
        .with_max_delay(Duration::from_secs(200))
        .with_max_attempts(6);
    assert_eq!(exp.delays(), secs(&[10, 30, 90, 200, 200]));
    // max_age: the next attempt may not start more than 100 s after the first.
    let aged = RetrySchedule::exponential(Duration::from_secs(10), 2)
        .with_max_age(Duration::from_secs(100));
    let (delays, last, _) = run_failing(delivery(aged), Outcome::status(500));
    assert_eq!(delays, secs(&[10, 20, 40]));
    assert_eq!(last, Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(RetrySchedule::none().attempt_limit(), Some(1));
}

#[test]
fn jitter_is_bounded_and_reproducible() {
    let schedule = RetrySchedule::learnybox().with_jitter(Jitter::Proportional { percent: 10 });
    let (a, _, _) = run_failing(delivery(schedule.clone()), Outcome::status(500));
    let (b, _, _) = run_failing(delivery(schedule), Outcome::status(500));
    for (d, base) in a.iter().zip(secs(&[60, 300, 600, 3600])) {
        assert!(
            *d >= base.mul_f64(0.9) && *d <= base.mul_f64(1.1),
            "{d:?} vs {base:?}"
        );
    }
    let full = RetrySchedule::learnybox().with_jitter(Jitter::Full);
    let (c, _, _) = run_failing(delivery(full), Outcome::status(500));
    for (d, base) in c.iter().zip(secs(&[60, 300, 600, 3600])) {
        assert!(*d <= base);
    }
    // Same delivery, same jitter: the schedule can be replayed. (Ids differ between the two
    // deliveries built above, so only bounds are compared across them.)
    assert_eq!(a.len(), b.len());
}

#[test]
fn retry_after_pushes_later_never_sooner_and_is_clamped() {
    let (mut d, t) = delivery(RetrySchedule::learnybox());
    d.next_request(at(T0), &t).unwrap();
    // Longer than the schedule's 60 s: honoured.
    let next = d
        .record(at(T0), &t, Outcome::status(429).with_retry_after("600"))
        .unwrap();
    assert_eq!(next, Next::RetryAt(at(T0 + 600)));
    // Shorter than the schedule's 5 min: ignored.
    d.next_request(at(T0 + 600), &t).unwrap();
    let next = d
        .record(at(T0 + 600), &t, Outcome::status(503).with_retry_after("1"))
        .unwrap();
    assert_eq!(next, Next::RetryAt(at(T0 + 900)));
    // An HTTP date, clamped to the target's maximum (1 h by default).
    d.next_request(at(T0 + 900), &t).unwrap();
    let far = "Wed, 21 Oct 2099 07:28:00 GMT";
    let next = d
        .record(at(T0 + 900), &t, Outcome::status(503).with_retry_after(far))
        .unwrap();
    assert_eq!(next, Next::RetryAt(at(T0 + 900 + 3600)));
    // Only 429 and 503 carry it.
    d.next_request(at(T0 + 4500), &t).unwrap();
    let next = d
        .record(
            at(T0 + 4500),
            &t,
            Outcome::status(500).with_retry_after("7200"),
        )
        .unwrap();
    assert_eq!(next, Next::RetryAt(at(T0 + 4500 + 3600)));
}

#[test]
fn success_rules_redirects_and_gone() {
    let (mut d, t) = delivery(RetrySchedule::learnybox());
    d.next_request(at(T0), &t).unwrap();
    assert_eq!(
        d.record(at(T0), &t, Outcome::status(201)).unwrap(),
        Next::Done
    );

    let mut strict = Delivery::new(at(T0), "evt_1", "ep_strict", &b"{}"[..]);
    let strict_t = Target::new(url("https://x.example.com/"))
        .with_secret(secret())
        .with_success(SuccessRule::Exactly200);
    strict.next_request(at(T0), &strict_t).unwrap();
    assert!(matches!(
        strict
            .record(at(T0), &strict_t, Outcome::status(201))
            .unwrap(),
        Next::RetryAt(_)
    ));
    strict.next_request(at(T0 + 5), &strict_t).unwrap();
    assert!(matches!(
        strict
            .record(at(T0 + 5), &strict_t, Outcome::status(302))
            .unwrap(),
        Next::RetryAt(_)
    ));
    strict.next_request(at(T0 + 305), &strict_t).unwrap();
    let next = strict
        .record(at(T0 + 305), &strict_t, Outcome::status(410))
        .unwrap();
    assert_eq!(next, Next::GaveUp(GiveUpReason::Gone));
    assert!(GiveUpReason::Gone.disables_endpoint());
    assert!(!GiveUpReason::Exhausted.disables_endpoint());
    assert_eq!(
        strict.state(),
        State::GaveUp {
            reason: GiveUpReason::Gone,
            at: at(T0 + 305)
        }
    );
    assert_eq!(strict.attempts().len(), 3);
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let (mut d, t) = delivery(RetrySchedule::learnybox());
    assert_eq!(
        d.record(at(T0), &t, Outcome::status(200)),
        Err(RecordError::NotInFlight)
    );
    d.next_request(at(T0), &t).unwrap();
    assert_eq!(
        d.next_request(at(T0), &t).unwrap_err(),
        RequestError::InFlight { attempt: 1 }
    );
    assert_eq!(
        d.record(at(T0 + 1), &t, Outcome::status(200)),
        Ok(Next::Done)
    );
    assert!(matches!(
        d.record(at(T0 + 2), &t, Outcome::status(200)),
        Err(RecordError::Finished(State::Done))
    ));
    assert!(matches!(
        d.next_request(at(T0 + 3), &t),
        Err(RequestError::Finished(State::Done))
    ));
    assert!(d.is_finished());
    let log = &d.attempts()[0];
    assert_eq!(
        (log.number, log.duration_ms, log.next),
        (1, 1000, Next::Done)
    );

    let loopback = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    for bad in ["ftp://example.com/", "not a url", "/relative"] {
        assert!(loopback.check(bad).is_err(), "{bad}");
    }
}

#[test]
fn requests_are_signed_json_posts_with_a_fresh_timestamp_each_attempt() {
    let (mut d, t) = delivery(RetrySchedule::learnybox());
    let verifier = Verifier::new(Scheme::standard(), [secret()]);
    let mut seen = Vec::new();
    let mut now = at(T0);
    for status in [500, 500, 200] {
        let request = d.next_request(now, &t).unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri(), "https://crm.example.com/hooks");
        assert_eq!(request.headers()["content-type"], "application/json");
        assert!(request.headers()["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("lms-webhooks/"));
        let ok = verifier
            .verify(now, request.headers(), request.body())
            .unwrap();
        assert_eq!(ok.id.as_deref(), Some(d.event_id()));
        assert_eq!(request.body(), d.body());
        seen.push(request.headers()["webhook-timestamp"].clone());
        match d.record(now, &t, Outcome::status(status)).unwrap() {
            Next::RetryAt(t) => now = t,
            Next::Done => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen.len(), 3);
    assert!(seen[0] != seen[1] && seen[1] != seen[2]);
}

#[test]
fn encrypted_targets_send_a_fresh_ciphertext_each_attempt() {
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let envelope = Envelope::new(Event::sample(EventType::CrmUserCreated));
    let t = Target::new(url("https://lb.example.com/h"))
        .with_secret(secret())
        .with_encryption(key.clone())
        .with_success(SuccessRule::Exactly200)
        .with_retry(RetrySchedule::learnybox());
    let mut d = Delivery::new(
        at(T0),
        envelope.id().as_str(),
        "ep_lb",
        envelope.to_bytes().unwrap(),
    );
    let first = d.next_request(at(T0), &t).unwrap();
    let _ = d.record(at(T0), &t, Outcome::status(500)).unwrap();
    let second = d.next_request(at(T0 + 60), &t).unwrap();
    assert_ne!(first.body(), second.body());
    for request in [&first, &second] {
        assert_eq!(key.decrypt_envelope(request.body()).unwrap(), envelope);
        // The signature covers the encrypted body.
        let verifier = Verifier::new(Scheme::standard(), [secret()]);
        assert!(verifier
            .verify(at(T0 + 60), request.headers(), request.body())
            .is_ok());
    }
}

#[test]
fn serde_mid_way_resumes_exactly_like_an_uninterrupted_run() {
    let outcomes = [
        Outcome::status(500).with_body(b"oops"),
        Outcome::Timeout,
        Outcome::status(429).with_retry_after("900"),
        Outcome::error("reset"),
        Outcome::status(200),
    ];
    let schedule = RetrySchedule::learnybox().with_jitter(Jitter::Proportional { percent: 25 });
    let (original, t) = delivery(schedule);
    let run = |d: &mut Delivery, from: usize, to: usize, now: &mut Timestamp| {
        for outcome in &outcomes[from..to] {
            d.next_request(*now, &t).unwrap();
            if let Next::RetryAt(due) = d.record(*now, &t, outcome.clone()).unwrap() {
                *now = due;
            }
        }
    };
    let mut straight = original.clone();
    let mut now_a = at(T0);
    run(&mut straight, 0, 5, &mut now_a);

    let mut resumed = original;
    let mut now_b = at(T0);
    run(&mut resumed, 0, 2, &mut now_b);
    let stored = serde_json::to_string(&resumed).unwrap();
    let mut loaded: Delivery = serde_json::from_str(&stored).unwrap();
    assert_eq!(loaded, resumed);
    assert_eq!(Delivery::from_json(&resumed.to_json()).unwrap(), resumed);
    run(&mut loaded, 2, 5, &mut now_b);

    assert_eq!(loaded, straight);
    assert_eq!(now_a, now_b);
    assert_eq!(loaded.state(), State::Done);
    assert_eq!(loaded.attempts().len(), 5);
}

/// A transport that answers from a script, for the async driver.
struct Scripted(std::sync::Mutex<Vec<u16>>);

impl lms_webhooks::transport::Transport for Scripted {
    fn send(
        &self,
        _request: http::Request<bytes::Bytes>,
    ) -> impl std::future::Future<Output = Outcome> + Send {
        let status = self.0.lock().unwrap().remove(0);
        async move { Outcome::status(status) }
    }
}

/// Polls a future that never waits on I/O to completion (no runtime needed).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[test]
fn the_async_driver_runs_attempts() {
    let transport = Scripted(std::sync::Mutex::new(vec![503, 200]));
    let (mut d, t) = delivery(RetrySchedule::learnybox());
    let now = std::cell::Cell::new(at(T0));
    let clock = || now.get();
    let first = block_on(lms_webhooks::transport::attempt(
        &mut d, &t, &transport, &clock,
    ))
    .unwrap();
    assert_eq!(first, Next::RetryAt(at(T0 + 60)));
    now.set(at(T0 + 60));
    let second = block_on(lms_webhooks::transport::attempt(
        &mut d, &t, &transport, &clock,
    ))
    .unwrap();
    assert_eq!(second, Next::Done);
    assert_eq!(d.attempts().len(), 2);
}

/// A delivery kept as parts (a store's columns, the attempts in the store's own log) goes on
/// exactly as the whole one: the same schedule, with jitter, across a resend; and parts that
/// contradict each other are refused.
#[test]
fn a_delivery_kept_as_parts_carries_on_as_the_whole_one() {
    use lms_webhooks::delivery::{DeliveryParts, LoadError};

    let schedule = RetrySchedule::standard_webhooks().with_jitter(Jitter::Full);
    let (mut whole, target) = delivery(schedule);
    let mut now = T0;
    for step in 0..9 {
        // Round trip through the parts before every attempt.
        let mut compact = Delivery::from_parts(whole.parts()).unwrap();
        assert_eq!(compact.attempt_count(), whole.attempt_count());
        let due = whole.next_due().map_or(now, |t| t.unix());
        now = now.max(due);
        whole.next_request(at(now), &target).unwrap();
        compact.next_request(at(now), &target).unwrap();
        let outcome = || Outcome::status(500);
        let a = whole.record(at(now + 1), &target, outcome()).unwrap();
        let b = compact.record(at(now + 1), &target, outcome()).unwrap();
        assert_eq!(a, b, "attempt {}", step + 1);
        assert_eq!(compact.parts(), whole.parts());
        assert_eq!(compact.attempts().len(), 1, "only what it recorded");
        if step == 4 {
            whole.resend(at(now + 2), "admin", "test").unwrap();
        }
        if matches!(a, Next::GaveUp(_)) {
            break;
        }
    }
    assert!(whole.attempt_count() >= 6);

    let parts = whole.parts();
    let mut broken = parts.clone();
    broken.round_start = parts.attempt_count + 1;
    assert!(matches!(
        Delivery::from_parts(broken),
        Err(LoadError::Inconsistent(_))
    ));
    let mut broken = parts.clone();
    broken.round_first_at = None;
    broken.round_start = 0;
    assert!(matches!(
        Delivery::from_parts(broken),
        Err(LoadError::Inconsistent(_))
    ));
    let mut broken = parts;
    broken.state = State::InFlight {
        attempt: 99,
        started_at: at(T0),
    };
    assert!(matches!(
        Delivery::from_parts(broken),
        Err(LoadError::Inconsistent(_))
    ));
    let _ = DeliveryParts::new(
        "evt",
        "ep",
        "{}",
        at(T0),
        State::Done,
        1,
        0,
        Some(at(T0)),
        7,
    );
}
