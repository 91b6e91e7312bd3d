//! The receiver toolkit, profiles, dedupe and the seeds' rules.

use std::time::Duration;

use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
use lms_webhooks::profile::{from_learnworlds_type, learnworlds_names, Profile};
use lms_webhooks::receiver::{ReceiveError, Receiver};
use lms_webhooks::rules::{events_for, Action};
use lms_webhooks::signature::{Message, VerifyError};
use lms_webhooks::{EncryptionKey, Envelope, Event, EventId, EventType, Secret, Timestamp};
use serde_json::json;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

const NOW: i64 = 1_800_000_000;

fn sign(
    profile: &Profile,
    secret: &Secret,
    id: &str,
    ts: Timestamp,
    body: &[u8],
) -> http::HeaderMap {
    profile
        .scheme()
        .sign(std::slice::from_ref(secret), &Message::new(id, ts, body))
        .unwrap()
}

#[test]
fn an_event_that_occurred_five_days_before_delivery_is_accepted() {
    let secret = Secret::generate_standard().unwrap();
    let occurred = at(NOW - 5 * 86_400);
    let envelope = Envelope::from_parts(
        EventId::new(),
        occurred,
        Event::sample(EventType::NotificationsSent),
    );
    let profile = Profile::learnink();
    let body = profile.render(&envelope).unwrap();
    let headers = sign(&profile, &secret, envelope.id().as_str(), at(NOW), &body);
    let got = Receiver::new(profile)
        .with_secret(secret)
        .receive(at(NOW + 10), &headers, &body)
        .unwrap();
    assert_eq!(got.occurred_at, occurred);
    assert_eq!(got.delivered_at, Some(at(NOW)));
    assert_eq!(got.event, *envelope.event());
    assert_eq!(got.id, envelope.id().as_str());
}

#[test]
fn replayed_tampered_and_misconfigured_requests_are_refused_with_a_status() {
    let secret = Secret::generate_standard().unwrap();
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionRefunded));
    let profile = Profile::standard();
    let body = profile.render(&envelope).unwrap();
    let headers = sign(&profile, &secret, envelope.id().as_str(), at(NOW), &body);
    let receiver = Receiver::new(profile.clone()).with_secret(secret);
    // Replayed an hour later.
    let e = receiver
        .receive(at(NOW + 3600), &headers, &body)
        .unwrap_err();
    assert!(matches!(
        e,
        ReceiveError::Signature(VerifyError::TimestampTooOld { .. })
    ));
    assert_eq!(e.http_status(), 401);
    // Tampered.
    let mut tampered = body.to_vec();
    let i = tampered.len() / 2;
    tampered[i] ^= 1;
    let e = receiver.receive(at(NOW), &headers, &tampered).unwrap_err();
    assert_eq!(e, ReceiveError::Signature(VerifyError::Mismatch));
    // Too large, misconfigured.
    let small = receiver.clone().with_max_body_len(10);
    assert_eq!(
        small
            .receive(at(NOW), &headers, &body)
            .unwrap_err()
            .http_status(),
        413
    );
    let none = Receiver::new(profile);
    assert_eq!(
        none.receive(at(NOW), &headers, &body)
            .unwrap_err()
            .http_status(),
        500
    );
    // A valid signature over a body that is not an envelope: 400.
    let junk = br#"{"hello":"world"}"#;
    let junk_headers = sign(
        &Profile::standard(),
        &Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        "x",
        at(NOW),
        junk,
    );
    let r = Receiver::new(Profile::standard())
        .with_secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap());
    let e = r.receive(at(NOW), &junk_headers, junk).unwrap_err();
    assert!(matches!(e, ReceiveError::Payload(_)));
    assert_eq!(e.http_status(), 400);
}

#[test]
fn learnybox_bodies_are_decrypted_and_a_bad_mac_is_401() {
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let envelope = Envelope::new(Event::sample(EventType::AffiliateCommissionGenerated));
    let body = key
        .encrypt(&Profile::learnybox().render(&envelope).unwrap())
        .unwrap();
    // Learnybox itself sends no signature headers: the MAC authenticates.
    let receiver = Receiver::new(Profile::learnybox()).with_key(key);
    let now = Timestamp::now();
    let got = receiver
        .receive(now, &http::HeaderMap::new(), &body)
        .unwrap();
    assert_eq!(got.event, *envelope.event());
    assert_eq!(got.delivered_at, None);
    let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["mac"] = json!("0".repeat(64));
    let e = receiver
        .receive(
            now,
            &http::HeaderMap::new(),
            &serde_json::to_vec(&v).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.http_status(), 401);
    assert!(Receiver::new(Profile::learnybox())
        .receive(now, &http::HeaderMap::new(), &body)
        .is_err());
}

/// A captured Learnybox body replayed a month later: refused (the MAC still verifies, but
/// nothing else dates it). Within the default day it is accepted; the limit can be moved or
/// lifted; a verified signature dates the request instead.
#[test]
fn a_learnybox_body_replayed_a_month_later_is_refused() {
    use lms_webhooks::receiver::DEFAULT_MAX_AGE;
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let occurred = at(NOW);
    let envelope = Envelope::from_parts(
        EventId::new(),
        occurred,
        Event::sample(EventType::SalesTransactionCompleted),
    );
    let body = key
        .encrypt(&Profile::learnybox().render(&envelope).unwrap())
        .unwrap();
    let none = http::HeaderMap::new();
    let receiver = Receiver::new(Profile::learnybox()).with_key(key.clone());
    let month = at(NOW + 30 * 86_400);
    let refused = receiver.receive(month, &none, &body).unwrap_err();
    assert_eq!(
        refused,
        ReceiveError::TooOld {
            age_secs: 30 * 86_400,
            max_age_secs: DEFAULT_MAX_AGE.as_secs()
        }
    );
    assert_eq!(refused.http_status(), 401);
    // The platform's whole retry schedule (76 min) and more fits in the default day.
    assert!(receiver.receive(at(NOW + 23 * 3600), &none, &body).is_ok());
    assert!(receiver
        .clone()
        .with_max_age(Some(Duration::from_secs(3600)))
        .receive(at(NOW + 2 * 3600), &none, &body)
        .is_err());
    assert!(receiver
        .clone()
        .with_max_age(None)
        .receive(month, &none, &body)
        .is_ok());
    // Signed (our senders add Standard Webhooks headers): the signature's time counts, so a
    // delivery made a month after the event occurred, signed now, is accepted.
    let secret = Secret::generate_standard().unwrap();
    let profile = Profile::learnybox().with_signature_required(true);
    let headers = sign(&profile, &secret, envelope.id().as_str(), month, &body);
    let signed = Receiver::new(profile).with_key(key).with_secret(secret);
    assert!(signed.receive(month, &headers, &body).is_ok());
}

/// A Learnybox receiver may also insist on the Standard Webhooks headers our senders add.
#[test]
fn a_learnybox_receiver_can_require_signatures_too() {
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let secret = Secret::generate_standard().unwrap();
    let profile = Profile::learnybox().with_signature_required(true);
    assert!(profile.requires_signature() && !Profile::learnybox().requires_signature());
    let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
    let body = key.encrypt(&profile.render(&envelope).unwrap()).unwrap();
    let receiver = Receiver::new(profile.clone())
        .with_secret(secret.clone())
        .with_key(key);
    let unsigned = receiver.receive(at(NOW), &http::HeaderMap::new(), &body);
    assert!(matches!(
        unsigned,
        Err(ReceiveError::Signature(VerifyError::MissingHeader { .. }))
    ));
    let headers = sign(&profile, &secret, envelope.id().as_str(), at(NOW), &body);
    let got = receiver.receive(at(NOW), &headers, &body).unwrap();
    assert_eq!(got.event, *envelope.event());
    assert_eq!(got.delivered_at, Some(at(NOW)));
}

#[test]
fn learnworlds_layout_names_and_quirks() {
    let token = Secret::parse("v1=4f3c2b1a09e8d7c6b5a49382716f5e4d").unwrap();
    let profile = Profile::learnworlds("school_42");
    let envelope = Envelope::new(Event::sample(EventType::CourseCertificateAwarded));
    let body = profile.render(&envelope).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["type"], "awardedCertificate");
    assert_eq!(v["trigger"], "certificate_awarded");
    assert_eq!(v["school_id"], "school_42");
    let headers = sign(&profile, &token, "ignored", at(NOW), &body);
    let receiver = Receiver::new(profile.clone()).with_secret(token.clone());
    let a = receiver.receive(at(NOW), &headers, &body).unwrap();
    assert_eq!(a.event, *envelope.event());
    // No id in the body: a stable one derived from it, so retries deduplicate.
    let b = receiver.receive(at(NOW + 60), &headers, &body).unwrap();
    assert_eq!(a.id, b.id);
    assert!(a.id.starts_with("body_"));

    // A real-world user event: fields directly in `data`, an epoch-float timestamp, extras.
    let raw = json!({
        "version": 2, "type": "userUpdated", "trigger": "user_updated", "school_id": "s",
        "timestamp": 1_700_000_000.25,
        "data": {"id": "u_1", "email": "ada@example.com", "username": "ada", "fields": {"bio": "x"}}
    });
    let raw = serde_json::to_vec(&raw).unwrap();
    let headers = sign(&profile, &token, "x", at(NOW), &raw);
    let got = receiver.receive(at(NOW), &headers, &raw).unwrap();
    let Event::Crm(lms_webhooks::CrmEvent::UserUpdated(change)) = &got.event else {
        panic!("{:?}", got.event)
    };
    assert_eq!(change.user.email.as_deref(), Some("ada@example.com"));
    assert_eq!(change.user.extra["username"], "ada");
    assert_eq!(
        got.occurred_at,
        Timestamp::from_unix_millis(1_700_000_000_250).unwrap()
    );

    // Every LearnWorlds name maps back.
    for &t in EventType::ALL {
        if let Some((ty, _)) = learnworlds_names(t) {
            let back = from_learnworlds_type(ty).unwrap();
            assert!(
                back == t || (t == EventType::CrmUserCreated && back == EventType::CrmUserUpdated)
            );
        }
    }
    let legacy = Profile::learnworlds_legacy("s").render(&envelope).unwrap();
    let legacy: serde_json::Value = serde_json::from_slice(&legacy).unwrap();
    assert_eq!(
        (legacy["version"].clone(), legacy.get("trigger")),
        (json!(1), None)
    );
}

#[test]
fn learnink_layout_and_timestamps_in_every_form() {
    let profile = Profile::learnink();
    let envelope = Envelope::new(Event::sample(EventType::CourseMemberStarted));
    let body: serde_json::Value =
        serde_json::from_slice(&profile.render(&envelope).unwrap()).unwrap();
    assert_eq!(body["object"], "event");
    assert_eq!(body["type"], "user.course.started");
    for ts in [
        json!("2026-11-23T09:30:00Z"),
        json!(1_795_426_200),
        json!(1_795_426_200.0),
        json!(1_795_426_200_000u64),
        json!("1795426200"),
    ] {
        let mut b = body.clone();
        b["timestamp"] = ts.clone();
        let parsed = profile
            .parse(at(NOW), &serde_json::to_vec(&b).unwrap(), None)
            .unwrap();
        assert_eq!(parsed.timestamp(), at(1_795_426_200), "{ts}");
        assert_eq!(
            parsed.event().event_type(),
            Some(EventType::CourseMemberStarted)
        );
    }
    let mut b = body.clone();
    b["timestamp"] = json!(true);
    assert!(profile
        .parse(at(NOW), &serde_json::to_vec(&b).unwrap(), None)
        .is_err());
}

#[test]
fn unknown_types_arrive_as_unknown() {
    let secret = Secret::generate_alphanumeric().unwrap();
    let profile = Profile::learnomy();
    let body = br#"{"id":"evt_x","type":"learnomy.badge.awarded","timestamp":"2026-11-23T09:30:00Z","data":{"badge":"gold"}}"#;
    let headers = sign(&profile, &secret, "evt_x", at(NOW), body);
    let got = Receiver::new(profile)
        .with_secret(secret)
        .receive(at(NOW), &headers, body)
        .unwrap();
    let Event::Unknown(raw) = &got.event else {
        panic!()
    };
    assert_eq!(raw.event_type(), "learnomy.badge.awarded");
    assert_eq!(raw.data()["badge"], "gold");
}

/// The three shapes that made the receiver answer 400 to genuine requests (issue "Receivers
/// never lose a verified webhook"): each arrives as its known type with the raw data and the
/// typed-parse error, never as an error; a strict receiver still refuses them, and what is not
/// an envelope at all is refused either way.
#[test]
fn an_authenticated_body_of_a_known_type_in_another_shape_is_kept_untyped() {
    let secret = Secret::generate_standard().unwrap();
    let profile = Profile::standard();
    let shapes = [
        (
            EventType::CourseMemberCompleted,
            json!({"user": {"id": "u_1", "email": "ada@example.com"}, "course": {"id": 7}}),
            "member",
        ),
        (
            EventType::SalesSubscriptionCreated,
            json!({"id": "sub_1", "plan": "monthly", "customer": {"email": "ada@example.com"}}),
            "plan",
        ),
        (
            EventType::SalesPaymentCreated,
            json!({"payment": {"id": "pay_1", "amount": 49.9, "currency": "EUR"}}),
            "data",
        ),
    ];
    let lenient = Receiver::new(profile.clone()).with_secret(secret.clone());
    let strict = lenient.clone().with_strict_payloads(true);
    for (event_type, data, mentioned) in shapes {
        let body = serde_json::to_vec(&json!({
            "id": "evt_shape", "type": event_type.as_str(),
            "timestamp": "2026-11-23T09:30:00Z", "data": data,
        }))
        .unwrap();
        let headers = sign(&profile, &secret, "evt_shape", at(NOW), &body);
        let got = lenient.receive(at(NOW), &headers, &body).unwrap();
        let Event::Untyped(untyped) = &got.event else {
            panic!("{event_type}: {:?}", got.event)
        };
        assert_eq!(untyped.event_type(), event_type);
        assert_eq!(got.event.event_type(), Some(event_type));
        assert_eq!(got.event.type_str(), event_type.as_str());
        assert_eq!(untyped.data(), &data, "kept as received");
        assert!(
            untyped.error().to_string().contains(mentioned),
            "{event_type}: {}",
            untyped.error()
        );
        assert_eq!(got.id, "evt_shape");
        // Re-serialized, the envelope carries the data as it came.
        let again = Envelope::from_parts(
            EventId::parse("evt_shape").unwrap(),
            at(NOW),
            got.event.clone(),
        );
        let value: serde_json::Value = serde_json::from_slice(&again.to_vec().unwrap()).unwrap();
        assert_eq!(value["data"], data);

        let refused = strict.receive(at(NOW), &headers, &body).unwrap_err();
        assert!(matches!(refused, ReceiveError::Payload(_)), "{refused}");
        assert_eq!(refused.http_status(), 400);
    }
    // Not an envelope: still refused, lenient or not.
    for body in [
        &b"{not json"[..],
        br#"{"id":"evt_1","timestamp":"2026-11-23T09:30:00Z","data":{}}"#,
        br#"{"id":"evt_1","type":"course.member.completed","timestamp":"soon","data":{}}"#,
    ] {
        let headers = sign(&profile, &secret, "evt_1", at(NOW), body);
        let refused = lenient.receive(at(NOW), &headers, body).unwrap_err();
        assert!(matches!(refused, ReceiveError::Payload(_)), "{refused}");
    }
    // And a forged body in another shape is refused for its signature, before any parsing.
    let body = br#"{"id":"evt_2","type":"course.member.completed","timestamp":"2026-11-23T09:30:00Z","data":{}}"#;
    let forged = sign(
        &profile,
        &Secret::generate_standard().unwrap(),
        "evt_2",
        at(NOW),
        body,
    );
    assert!(matches!(
        lenient.receive(at(NOW), &forged, body),
        Err(ReceiveError::Signature(_))
    ));
}

#[test]
fn dedupe_detects_retries_and_stays_bounded_under_a_million_ids() {
    let raw = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400));
    // A handler that always succeeds: claim, then commit.
    struct Handled(MemoryDeduplicator);
    impl Handled {
        fn check_and_mark(&self, now: Timestamp, scope: &str, id: &str) -> bool {
            match self.0.claim(now, scope, id, Duration::from_secs(30)) {
                Claim::Claimed(token) => {
                    self.0.commit(now, scope, id, token);
                    true
                }
                _ => false,
            }
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn stats(&self) -> lms_webhooks::dedupe::DedupeStats {
            self.0.stats()
        }
        fn max_bytes(&self) -> usize {
            self.0.max_bytes()
        }
    }
    let seen = Handled(raw);
    assert!(seen.check_and_mark(at(NOW), "p", "evt_a"));
    assert!(!seen.check_and_mark(at(NOW + 1), "p", "evt_a"));
    assert!(seen.check_and_mark(at(NOW + 1), "p", "evt_b"));
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut fresh = 0;
    for i in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if seen.check_and_mark(at(NOW + 2 + i / 1000), "p", &format!("evt_{x:016x}")) {
            fresh += 1;
        }
        assert!(seen.len() <= 10_000);
    }
    assert_eq!(fresh, 1_000_000, "distinct ids never collide");
    assert_eq!(seen.len(), 10_000);
    // The flood pushed out ids younger than their day: every one of them is counted.
    let stats = seen.stats();
    assert_eq!(stats.evicted_early, 1_000_002 - 10_000);
    assert_eq!(stats.expired, 0);
    assert!(stats.bytes <= seen.max_bytes());
}

#[test]
fn every_rule_from_the_seeds() {
    use EventType as T;
    let cases: &[(Action, &[EventType])] = &[
        (
            Action::SubscriptionBought { trial_days: 0 },
            &[T::SalesSubscriptionPaid, T::SalesPaymentCreated],
        ),
        (
            Action::SubscriptionBought { trial_days: 14 },
            &[T::SalesSubscriptionTrialStarted],
        ),
        (
            Action::PaymentAfterTrial,
            &[T::SalesSubscriptionPaid, T::SalesPaymentCreated],
        ),
        (
            Action::AdminEnrolledWithoutPayment,
            &[T::SalesSubscriptionPaid, T::SalesPaymentCreated],
        ),
        (Action::CancelClicked, &[]),
        (Action::SubscriptionEnded, &[T::SalesSubscriptionCanceled]),
        (Action::PlanChanged, &[T::SalesSubscriptionUpdated]),
        (
            Action::Refund,
            &[T::SalesTransactionRefunded, T::SalesCreditNoteCreated],
        ),
        (
            Action::Sale {
                referred_by_affiliate: false,
            },
            &[T::SalesTransactionCompleted, T::SalesInvoiceCreated],
        ),
        (
            Action::Sale {
                referred_by_affiliate: true,
            },
            &[
                T::SalesTransactionCompleted,
                T::SalesInvoiceCreated,
                T::AffiliateCommissionGenerated,
            ],
        ),
        (Action::Registration, &[T::CrmUserCreated]),
        (Action::ProfileUpdate, &[T::CrmUserUpdated]),
        (
            Action::FreeSectionPreviewed {
                course_is_paid: true,
            },
            &[T::CourseSectionPreviewed],
        ),
        (
            Action::FreeSectionPreviewed {
                course_is_paid: false,
            },
            &[],
        ),
    ];
    for (action, want) in cases {
        assert_eq!(events_for(*action), *want, "{action:?}");
    }
}

/// The common mistakes each get a hint (issue "Receivers never lose a verified webhook",
/// item 7).
#[test]
fn error_hints_for_the_common_mistakes() {
    let secret = Secret::generate_standard().unwrap();
    let profile = Profile::standard();
    let receiver = Receiver::new(profile.clone()).with_secret(secret.clone());
    let body =
        br#"{"id":"evt_1","type":"webhook.test","timestamp":"2026-11-23T09:30:00Z","data":{}}"#;

    // A mismatch: check the raw bytes and the whsec_ prefix.
    let headers = sign(&profile, &secret, "evt_1", at(NOW), body);
    let mut altered = body.to_vec();
    altered.push(b'\n');
    let text = receiver
        .receive(at(NOW), &headers, &altered)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("raw request bytes") && text.contains("whsec_"),
        "{text}"
    );

    // A timestamp in milliseconds.
    let mut ms = headers.clone();
    ms.insert(
        "webhook-timestamp",
        (NOW * 1000).to_string().parse().unwrap(),
    );
    let text = receiver
        .receive(at(NOW), &ms, body)
        .unwrap_err()
        .to_string();
    assert!(text.contains("looks like milliseconds"), "{text}");

    // A plaintext body sent to an encrypted profile.
    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a").unwrap();
    let learnybox = Receiver::new(Profile::learnybox()).with_key(key);
    let none: Vec<(String, String)> = Vec::new();
    let text = learnybox
        .receive(at(NOW), &none, body)
        .unwrap_err()
        .to_string();
    assert!(text.contains("body is not encrypted"), "{text}");

    // A key of the wrong length lists the accepted forms.
    let text = EncryptionKey::parse("too-short").unwrap_err().to_string();
    assert!(
        text.contains("32 characters") && text.contains("base64:"),
        "{text}"
    );
}
