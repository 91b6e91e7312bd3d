//! Deliveries follow their endpoint: no secret in a stored delivery, every attempt built from
//! the endpoint as it is now, the endpoint's status reaching the queue, and the manual
//! operations (resend, recover, cancel).

use std::time::Duration;

#[path = "support/secrets.rs"]
mod secrets;

use lms_webhooks::delivery::{
    recover, Action, Delivery, GiveUpReason, LoadError, Next, OperationError, Outcome,
    RequestError, State, Target, FORMAT_VERSION,
};
use lms_webhooks::endpoint::{fan_out, Endpoint, EndpointStatus, Registry, UrlPolicy};
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::signature::BodyHmacHex;
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Secret, Timestamp};

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

fn endpoint(id: &str, url: &str) -> (Endpoint, Secret) {
    let (e, shown) = Endpoint::create(at(T0), id, url, &UrlPolicy::new()).unwrap();
    (e, Secret::parse(&shown).unwrap())
}

fn sale() -> Envelope {
    Envelope::new(Event::sample(EventType::SalesTransactionCompleted))
}

#[test]
fn a_retry_after_rotation_and_a_url_edit_goes_to_the_new_url_signed_with_the_new_secret_only() {
    let (crm, old_secret) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let mut registry = Registry::new();
    registry.add(crm).unwrap();
    let envelope = sale();
    let mut out = fan_out(at(T0), &envelope, registry.endpoints()).unwrap();
    let mut d = out.deliveries.pop().unwrap();

    // The first attempt fails.
    let first = registry.request(at(T0), &mut d).unwrap();
    assert_eq!(first.uri(), "https://crm.example.com/hooks");
    let next = registry
        .record(at(T0), &mut d, Outcome::status(500))
        .unwrap();
    let Next::RetryAt(due) = next else {
        panic!("{next:?}")
    };

    // The admin rotates with no grace period and moves the endpoint.
    let e = registry.get_mut("ep_crm").unwrap();
    let new_text = e.rotate_secret(at(T0 + 1), Duration::ZERO).unwrap();
    e.set_url(
        at(T0 + 1),
        "https://crm.example.com/v2/hooks",
        &UrlPolicy::new(),
    )
    .unwrap();
    let new_secret = Secret::parse(&new_text).unwrap();

    // The stored delivery survives a trip through the database.
    let mut d = Delivery::from_json(&d.to_json()).unwrap();
    let retry = registry.request(due, &mut d).unwrap();
    assert_eq!(retry.uri(), "https://crm.example.com/v2/hooks");
    let signatures = retry.headers()["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 1, "the new secret only");

    let receiver = Receiver::new(Profile::standard()).with_secret(new_secret);
    let got = receiver.receive_request(due, &retry).unwrap();
    assert_eq!(got.id, envelope.id().as_str());
    assert_eq!(got.event, *envelope.event());
    let stale = Receiver::new(Profile::standard()).with_secret(old_secret);
    assert!(stale.receive_request(due, &retry).is_err());
    // And the first attempt was signed with the old one: the two really differ.
    assert!(receiver.receive_request(at(T0), &first).is_err());
}

#[test]
fn during_a_grace_period_retries_carry_both_signatures() {
    let (mut crm, old_secret) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let envelope = sale();
    let body = envelope.to_bytes().unwrap();
    let mut d = Delivery::new(at(T0), envelope.id().as_str(), crm.shared_id(), body);
    crm.rotate_secret(at(T0), Duration::from_secs(3600))
        .unwrap();
    let request = crm.request(at(T0 + 10), &mut d).unwrap();
    let old_only = Receiver::new(Profile::standard()).with_secret(old_secret);
    old_only.receive_request(at(T0 + 10), &request).unwrap();
    let _ = crm
        .record(at(T0 + 10), &mut d, Outcome::status(500))
        .unwrap();
    // After the grace period, the old secret no longer signs.
    let request = crm.request(at(T0 + 3700), &mut d).unwrap();
    assert!(matches!(
        old_only.receive_request(at(T0 + 3700), &request),
        Err(lms_webhooks::receiver::ReceiveError::Signature(
            lms_webhooks::VerifyError::Mismatch
        ))
    ));
}

#[test]
fn a_stored_delivery_holds_no_secret_key_or_url_in_any_encoding() {
    let (standard, standard_secret) = endpoint("ep_std", "https://a.example.com/in");
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let (lb, lb_secret) = endpoint("ep_lb", "https://b.example.com/in");
    let lb = lb
        .with_profile(&Profile::learnybox())
        .with_encryption(key.clone());
    let alnum = Secret::generate_alphanumeric().unwrap();
    let (lm, _) = endpoint("ep_lm", "https://c.example.com/in");
    let lm = lm.with_signing(BodyHmacHex::learnomy(), alnum.clone());
    let mut registry = Registry::new();
    for e in [standard, lb, lm] {
        registry.add(e).unwrap();
    }
    let out = fan_out(at(T0), &sale(), registry.endpoints()).unwrap();
    assert_eq!(out.deliveries.len(), 3);
    for mut d in out.deliveries {
        // Mid-way, with an attempt in the log.
        registry.request(at(T0), &mut d).unwrap();
        let _ = registry
            .record(at(T0), &mut d, Outcome::status(503).with_body(b"busy"))
            .unwrap();
        let rows = [d.to_json(), serde_json::to_vec(&d).unwrap()];
        for stored in &rows {
            for (bytes, what) in [
                (standard_secret.expose_bytes(), "whsec secret"),
                (lb_secret.expose_bytes(), "learnybox signing secret"),
                (&key.expose_bytes()[..], "encryption key"),
                (alnum.expose_bytes(), "alphanumeric secret"),
            ] {
                secrets::assert_holds_none_of(stored, bytes, what);
            }
            let text = String::from_utf8_lossy(stored);
            assert!(!text.contains("whsec_") && !text.contains("example.com"));
        }
    }
}

#[test]
fn paused_and_failed_endpoints_hold_deliveries_unchanged_until_they_are_active() {
    let (mut crm, _) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let mut d = Delivery::new(at(T0), "evt_1", "ep_crm", &b"{}"[..]);
    crm.pause(at(T0));
    let before = d.clone();
    assert_eq!(
        crm.request(at(T0), &mut d).unwrap_err(),
        RequestError::Held {
            status: EndpointStatus::Paused
        }
    );
    assert_eq!(d, before, "a held delivery is not touched");
    crm.resume(at(T0 + 60));
    assert!(crm.request(at(T0 + 60), &mut d).is_ok());
    assert_eq!(
        crm.record(at(T0 + 60), &mut d, Outcome::status(500))
            .unwrap(),
        Next::RetryAt(at(T0 + 65))
    );

    // Failed after enough deliveries gave up: held the same way, until reactivated.
    let mut crm = crm.with_failure_rule(1, Duration::from_secs(86_400));
    let mut other = Delivery::new(at(T0), "evt_2", "ep_crm", &b"{}"[..]);
    let _ = crm.request(at(T0 + 65), &mut other).unwrap();
    let target = crm.target(at(T0 + 65));
    let strict = target.as_ref().clone().with_retry(RetrySchedule::none());
    let next = other
        .record(at(T0 + 65), &strict, Outcome::status(500))
        .unwrap();
    assert_eq!(crm.record_result(at(T0 + 65), next), EndpointStatus::Failed);
    assert!(matches!(
        crm.request(at(T0 + 70), &mut d),
        Err(RequestError::Held {
            status: EndpointStatus::Failed
        })
    ));
    crm.reactivate(at(T0 + 80));
    assert!(crm.request(at(T0 + 80), &mut d).is_ok());
}

#[test]
fn disabled_and_deleted_endpoints_end_their_deliveries_with_a_reason_in_the_log() {
    let (crm, _) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let (lms, _) = endpoint("ep_lms", "https://lms.example.org/hooks");
    let mut registry = Registry::new();
    registry.add(crm).unwrap();
    registry.add(lms).unwrap();
    let out = fan_out(at(T0), &sale(), registry.endpoints()).unwrap();
    let [mut to_crm, mut to_lms]: [Delivery; 2] = out.deliveries.try_into().unwrap();

    registry.get_mut("ep_crm").unwrap().disable(at(T0 + 1));
    assert_eq!(
        registry.request(at(T0 + 2), &mut to_crm).unwrap_err(),
        RequestError::Ended {
            reason: GiveUpReason::EndpointDisabled
        }
    );
    assert_eq!(
        to_crm.state(),
        State::GaveUp {
            reason: GiveUpReason::EndpointDisabled,
            at: at(T0 + 2)
        }
    );
    assert_eq!(to_crm.operations()[0].action, Action::EndpointDisabled);

    // Deleted while an attempt is in flight: the attempt is logged, then the delivery ends.
    registry.request(at(T0 + 3), &mut to_lms).unwrap();
    registry.remove("ep_lms").unwrap();
    assert_eq!(
        registry
            .record(at(T0 + 4), &mut to_lms, Outcome::status(500))
            .unwrap(),
        Next::GaveUp(GiveUpReason::EndpointDeleted)
    );
    assert_eq!(to_lms.attempts().len(), 1);
    assert_eq!(to_lms.operations()[0].action, Action::EndpointDeleted);

    // Deleted while pending: ended at its next attempt.
    let mut late = Delivery::new(at(T0), "evt_9", "ep_lms", &b"{}"[..]);
    assert_eq!(
        registry.request(at(T0 + 5), &mut late).unwrap_err(),
        RequestError::Ended {
            reason: GiveUpReason::EndpointDeleted
        }
    );
    assert!(late.is_finished());
}

#[test]
fn resend_gives_a_finished_delivery_a_new_attempt_and_a_fresh_schedule() {
    let (crm, _) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let mut crm = crm.with_delivery(
        RetrySchedule::learnybox(),
        lms_webhooks::SuccessRule::Exactly200,
    );
    let mut d = Delivery::new(at(T0), "evt_1", "ep_crm", &b"{}"[..]);
    let mut now = at(T0);
    loop {
        crm.request(now, &mut d).unwrap();
        match crm.record(now, &mut d, Outcome::Timeout).unwrap() {
            Next::RetryAt(t) => now = t,
            Next::GaveUp(GiveUpReason::Exhausted) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(d.attempt_count(), 5);
    let later = now.saturating_add(Duration::from_secs(86_400));
    d.resend(later, "ada@school.example", "receiver fixed")
        .unwrap();
    assert_eq!(d.next_due(), Some(later));
    let op = d.operations().last().unwrap();
    assert_eq!(
        (op.action, op.by.as_str(), op.reason.as_str()),
        (Action::Resend, "ada@school.example", "receiver fixed")
    );
    let request = crm.request(later, &mut d).unwrap();
    assert_eq!(
        request.headers()["webhook-id"],
        "evt_1",
        "the same event id"
    );
    // A failure now follows the schedule from its start: 60 s, not "exhausted".
    assert_eq!(
        crm.record(later, &mut d, Outcome::status(500)).unwrap(),
        Next::RetryAt(later.saturating_add(Duration::from_secs(60)))
    );
    assert_eq!(d.attempt_count(), 6);

    // Refused while in flight; allowed after a delivery too.
    crm.request(later.saturating_add(Duration::from_secs(60)), &mut d)
        .unwrap();
    assert_eq!(
        d.resend(later, "ada", "again"),
        Err(OperationError::InFlight { attempt: 7 })
    );
}

#[test]
fn recover_resends_what_failed_since_a_time_and_nothing_else() {
    let target = Target::new(
        UrlPolicy::new()
            .check("https://crm.example.com/in")
            .unwrap(),
    )
    .with_secret(Secret::generate_standard().unwrap())
    .with_retry(RetrySchedule::none());
    let fail_at = |id: &str, endpoint: &str, t: i64| {
        let mut d = Delivery::new(at(t), id, endpoint, &b"{}"[..]);
        d.next_request(at(t), &target).unwrap();
        let _ = d.record(at(t), &target, Outcome::status(500)).unwrap();
        d
    };
    let mut queue = vec![
        fail_at("evt_old", "ep_crm", T0),
        fail_at("evt_new", "ep_crm", T0 + 100),
        fail_at("evt_other", "ep_other", T0 + 100),
    ];
    let mut canceled = Delivery::new(at(T0 + 100), "evt_canceled", "ep_crm", &b"{}"[..]);
    canceled.cancel(at(T0 + 150), "ada", "duplicate").unwrap();
    queue.push(canceled);
    let mut delivered = Delivery::new(at(T0 + 100), "evt_ok", "ep_crm", &b"{}"[..]);
    delivered.next_request(at(T0 + 100), &target).unwrap();
    let _ = delivered
        .record(at(T0 + 100), &target, Outcome::status(200))
        .unwrap();
    queue.push(delivered);

    let n = recover(
        at(T0 + 200),
        &mut queue,
        "ep_crm",
        at(T0 + 50),
        "ops",
        "outage over",
    );
    assert_eq!(n, 1);
    let pending: Vec<&str> = queue
        .iter()
        .filter(|d| d.next_due().is_some())
        .map(Delivery::event_id)
        .collect();
    assert_eq!(pending, ["evt_new"]);
    assert_eq!(queue[1].operations()[0].action, Action::Recover);
    assert_eq!(queue[1].operations()[0].by, "ops");
}

#[test]
fn cancel_ends_a_pending_delivery_for_good() {
    let mut d = Delivery::new(at(T0), "evt_1", "ep_crm", &b"{}"[..]);
    d.cancel(at(T0 + 1), "ada", "sent to the wrong school\nsecond line")
        .unwrap();
    assert_eq!(
        d.state(),
        State::GaveUp {
            reason: GiveUpReason::Canceled,
            at: at(T0 + 1)
        }
    );
    let op = &d.operations()[0];
    assert_eq!(op.action, Action::Cancel);
    assert!(!op.reason.contains('\n'), "log text stays on one line");
    assert!(matches!(
        d.cancel(at(T0 + 2), "ada", "again"),
        Err(OperationError::Finished(_))
    ));
    let (crm, _) = endpoint("ep_crm", "https://crm.example.com/hooks");
    assert!(matches!(
        d.next_request(at(T0 + 3), &crm.target(at(T0 + 3))),
        Err(RequestError::Finished(_))
    ));
}

#[test]
fn a_target_of_another_endpoint_is_refused() {
    let (crm, _) = endpoint("ep_crm", "https://crm.example.com/hooks");
    let mut d = Delivery::new(at(T0), "evt_1", "ep_lms", &b"{}"[..]);
    assert_eq!(
        d.next_request(at(T0), &crm.target(at(T0))).unwrap_err(),
        RequestError::WrongEndpoint {
            delivery: "ep_lms".to_owned(),
            target: "ep_crm".to_owned()
        }
    );
    assert_eq!(d.state(), State::Pending { due: at(T0) });
}

#[test]
fn stored_deliveries_that_cannot_be_loaded_say_why() {
    let d = Delivery::new(at(T0), "evt_1", "ep_crm", &b"{}"[..]);
    let good = d.to_json();
    let text = String::from_utf8(good.clone()).unwrap();
    assert!(text.starts_with(&format!("{{\"format\":{FORMAT_VERSION},")));

    assert!(matches!(
        Delivery::from_json(b"{not json"),
        Err(LoadError::Malformed { .. })
    ));
    assert!(matches!(
        Delivery::from_json(b"[]"),
        Err(LoadError::Malformed { .. })
    ));
    let future = text.replacen("\"format\":1", "\"format\":99", 1);
    assert_eq!(
        Delivery::from_json(future.as_bytes()),
        Err(LoadError::UnknownFormat {
            found: 99,
            supported: FORMAT_VERSION
        })
    );
    let missing = text.replacen("\"endpoint_id\":\"ep_crm\",", "", 1);
    let e = Delivery::from_json(missing.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("endpoint_id"), "{e}");
    let lying = text.replacen("\"attempt_count\":0", "\"attempt_count\":3", 1);
    assert!(matches!(
        Delivery::from_json(lying.as_bytes()),
        Err(LoadError::Inconsistent(_))
    ));
    // serde's own path reports the same problems instead of loading a half-state.
    assert!(serde_json::from_str::<Delivery>(&future).is_err());
    assert_eq!(Delivery::from_json(&good).unwrap(), d);
}

#[test]
fn the_test_ping_is_sent_whatever_the_status_with_no_retry() {
    let (mut crm, secret) = endpoint("ep_crm", "https://crm.example.com/hooks");
    crm.record_result(at(T0), Next::GaveUp(GiveUpReason::Exhausted));
    let mut crm = crm.with_failure_rule(1, Duration::from_secs(60));
    crm.record_result(at(T0), Next::GaveUp(GiveUpReason::Exhausted));
    assert_eq!(crm.status(), EndpointStatus::Failed);
    let mut ping = crm.test_delivery(at(T0)).unwrap();
    let target = crm.test_target(at(T0));
    let request = ping.next_request(at(T0), &target).unwrap();
    let got = Receiver::new(Profile::standard())
        .with_secret(secret)
        .receive_request(at(T0), &request)
        .unwrap();
    assert_eq!(got.event.type_str(), "webhook.test");
    let next = ping.record(at(T0), &target, Outcome::status(200)).unwrap();
    assert_eq!(crm.record_test_result(at(T0), next), EndpointStatus::Active);
}
