//! Property tests across modules: the round trips that persistence and the wire rely on, and
//! "no input panics" for every parser a receiver or an admin form feeds with untrusted text.
//!
//! Module-local properties live beside their examples (`tests/envelope.rs`,
//! `tests/signature.rs`, `tests/encryption.rs`); the fuzz targets in `fuzz/` explore the same
//! parsers with coverage guidance.

use std::time::Duration;

use lms_webhooks::delivery::{parse_retry_after, Outcome, SuccessRule};
use lms_webhooks::delivery::{Delivery, Next, State, Target};
use lms_webhooks::endpoint::{Endpoint, EndpointStatus, EventFilter, UrlPolicy};
use lms_webhooks::profile::{from_learnworlds_type, learnworlds_names, Layout, Profile};
use lms_webhooks::receiver::Receiver;
use lms_webhooks::retry::{Jitter, RetrySchedule};
use lms_webhooks::{
    EncryptionKey, Envelope, Event, EventId, EventType, Secret, Timestamp, Tolerance,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

fn event_type() -> impl Strategy<Value = EventType> {
    proptest::sample::select(EventType::ALL)
}

/// A JSON value of bounded depth: what platforms put in fields we do not model.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Floats that JSON can carry; serde_json prints the shortest text that reads back.
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A platform-shaped `data`: the keys the platform mappings read (entities, prices, dates,
/// ids), each holding anything, nested.
fn platform_data() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(vec![
        "user",
        "member",
        "customer",
        "contact",
        "payment",
        "product",
        "products",
        "course",
        "course_id",
        "subscription",
        "plan",
        "new_plan",
        "learningProgram",
        "certificate",
        "certificate_id",
        "price",
        "original_price",
        "final_price",
        "amount",
        "currency",
        "currency_code",
        "id",
        "user_id",
        "email",
        "fields",
        "phone",
        "tags",
        "date",
        "completed_at",
        "created_at",
        "cancelled_at",
        "paid_at",
        "created",
        "interval",
        "interval_type",
        "trial_period_days",
        "trial_days",
        "type",
        "short_url",
        "title",
        "name",
        "page_submitted",
        "payment_plan_current_payment",
        "affiliate",
        "gateway",
    ]);
    let leaf = prop_oneof![
        json_value(),
        prop_oneof!["-?[0-9]{1,20}(\\.[0-9]{0,4})?", "[A-Za-z]{3}"].prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map(key.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A catalogue event with its sample payload plus unknown fields, at a random time.
fn envelope() -> impl Strategy<Value = Envelope> {
    (
        event_type(),
        0i64..4_102_444_800,
        any::<[u8; 10]>(),
        proptest::collection::btree_map("x_[a-z]{1,6}", json_value(), 0..3),
    )
        .prop_map(|(t, secs, random, extra)| {
            let base = Envelope::new(Event::sample(t))
                .with_id(EventId::from_parts(at(secs), random))
                .with_timestamp(at(secs));
            let mut body: Value = serde_json::from_slice(&base.to_vec().unwrap()).unwrap();
            if let Some(Value::Object(data)) = body.get_mut("data") {
                data.extend(extra);
            }
            Envelope::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap()
        })
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile::standard(),
        Profile::learnybox(),
        Profile::learnworlds("school_42"),
        Profile::learnworlds_legacy("school_42"),
        Profile::learnink(),
        Profile::learnomy(),
    ]
}

/// An answer from an endpoint, or a failure to get one.
fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        proptest::sample::select(vec![200u16, 201, 204, 301, 400, 404, 410, 500, 502, 503])
            .prop_map(Outcome::status),
        (100u16..600).prop_map(Outcome::status),
        (
            proptest::sample::select(vec![429u16, 503]),
            "[0-9]{1,5}|.{0,12}"
        )
            .prop_map(|(s, ra)| Outcome::status(s).with_retry_after(ra)),
        (
            400u16..600,
            proptest::collection::vec(any::<u8>(), 0..2_000)
        )
            .prop_map(|(s, body)| Outcome::status(s).with_body(&body)),
        Just(Outcome::Timeout),
        ".{0,40}".prop_map(Outcome::error),
    ]
}

fn schedule() -> impl Strategy<Value = RetrySchedule> {
    prop_oneof![
        Just(RetrySchedule::learnybox()),
        Just(RetrySchedule::standard_webhooks()),
        Just(RetrySchedule::learnworlds_capped(Duration::from_secs(
            86_400
        ))),
        Just(RetrySchedule::learnybox().with_jitter(Jitter::Full)),
        Just(RetrySchedule::standard_webhooks().with_jitter(Jitter::Proportional { percent: 20 })),
    ]
}

fn new_delivery(schedule: RetrySchedule, success: SuccessRule) -> (Delivery, Target) {
    let envelope = Envelope::new(Event::sample(EventType::CourseQuizCompleted));
    let target = Target::new(
        UrlPolicy::new()
            .check("https://crm.example.com/hooks")
            .unwrap(),
    )
    .with_secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap())
    .with_retry(schedule)
    .with_success(success);
    let d = Delivery::new(
        at(T0),
        envelope.id().as_str(),
        "ep_crm",
        envelope.to_bytes().unwrap(),
    );
    (d, target)
}

/// Runs outcomes until they run out or the delivery finishes; returns the clock.
fn drive(d: &mut Delivery, target: &Target, outcomes: &[Outcome], mut now: Timestamp) -> Timestamp {
    for outcome in outcomes {
        if d.is_finished() {
            break;
        }
        d.next_request(now, target).unwrap();
        if let Next::RetryAt(t) = d.record(now, target, outcome.clone()).unwrap() {
            assert!(t >= now, "a retry scheduled in the past");
            now = t;
        }
    }
    now
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Event ↔ JSON: any catalogue event, with unknown fields, reads back equal.
    #[test]
    fn envelope_json_round_trip(envelope in envelope()) {
        let bytes = envelope.to_vec().unwrap();
        prop_assert_eq!(Envelope::from_slice(&bytes).unwrap(), envelope);
    }

    /// Each platform layout: what we render reads back and renders to the same bytes.
    #[test]
    fn platform_layouts_round_trip(envelope in envelope(), signed in any::<bool>()) {
        let signed_id = signed.then_some(envelope.id().as_str());
        for profile in profiles() {
            let first = profile.render(&envelope).unwrap();
            let parsed = profile.parse(at(T0), &first, signed_id).unwrap();
            // LearnWorlds sends one `type` for two catalogue types (userUpdated): it reads back
            // as the one CATALOGUE.md names for it.
            let expected = match (profile.layout(), envelope.event().event_type()) {
                (Layout::LearnWorlds { .. }, Some(t)) => learnworlds_names(t)
                    .and_then(|(name, _)| from_learnworlds_type(name))
                    .map_or(t.as_str(), |t| t.as_str()),
                _ => envelope.event().type_str(),
            };
            prop_assert_eq!(parsed.event().type_str(), expected);
            let second = profile.render(&parsed).unwrap();
            prop_assert_eq!(
                String::from_utf8_lossy(&second),
                String::from_utf8_lossy(&first),
                "{}", profile.name()
            );
            if profile.layout() == &Layout::Canonical {
                prop_assert_eq!(&parsed, &envelope);
            }
        }
    }

    /// A platform body of any catalogue type with any `data` is never refused by a lenient
    /// parse (the receivers' default) and never panics: it arrives typed, or untyped with the
    /// data exactly as sent.
    #[test]
    fn platform_shapes_are_never_refused(t in event_type(), data in platform_data()) {
        for (profile, body) in [
            (
                Profile::learnworlds("s").with_currency(lms_webhooks::event::Currency::EUR),
                json!({"version": 2, "type": learnworlds_names(t).map_or(t.as_str(), |n| n.0),
                       "school_id": "s", "data": data}),
            ),
            (
                Profile::learnink(),
                json!({"object": "event", "type": t.as_str(), "data": data,
                       "timestamp": "2026-11-23T09:30:00Z"}),
            ),
        ] {
            let bytes = serde_json::to_vec(&body).unwrap();
            let parsed = profile.parse_lenient(at(T0), &bytes, Some("msg_1"));
            let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{}: {e}", profile.name())))?;
            if let Event::Untyped(untyped) = parsed.event() {
                // As sent: the body's `data` as any JSON reader reads it.
                let sent: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(untyped.data(), &sent["data"]);
            }
        }
    }

    /// Delivery ↔ serde: storing a delivery after any prefix of any outcomes and resuming it
    /// ends exactly like the uninterrupted run, and no run exceeds its schedule.
    #[test]
    fn delivery_serde_round_trip(
        schedule in schedule(),
        exactly_200 in any::<bool>(),
        outcomes in proptest::collection::vec(outcome(), 1..30),
        cut in 0usize..30,
    ) {
        let success = if exactly_200 { SuccessRule::Exactly200 } else { SuccessRule::Any2xx };
        let max_attempts = schedule.attempt_limit().unwrap_or(u32::MAX);
        let (original, target) = new_delivery(schedule, success);
        let cut = cut.min(outcomes.len());

        let mut straight = original.clone();
        let end_a = drive(&mut straight, &target, &outcomes, at(T0));

        let mut first_half = original;
        let mid = drive(&mut first_half, &target, &outcomes[..cut], at(T0));
        let stored = first_half.to_json();
        let mut resumed = Delivery::from_json(&stored).unwrap();
        prop_assert_eq!(&resumed, &first_half);
        let done = resumed.attempt_count() as usize;
        let end_b = drive(&mut resumed, &target, &outcomes[done..], mid);

        prop_assert_eq!(&resumed, &straight);
        prop_assert_eq!(end_a, end_b);
        prop_assert!(straight.attempt_count() <= max_attempts);
        if straight.attempt_count() == max_attempts {
            prop_assert!(straight.is_finished());
        }
        // A finished delivery refuses further use instead of changing.
        if straight.is_finished() {
            let finished = matches!(straight.state(), State::Done | State::GaveUp { .. });
            prop_assert!(finished);
            let before = straight.clone();
            prop_assert!(straight.next_request(end_a, &target).is_err());
            prop_assert!(straight.record(end_a, &target, Outcome::status(200)).is_err());
            prop_assert_eq!(straight, before);
        }
    }

    /// Endpoint ↔ serde, after any sequence of status changes; the status follows the rules
    /// table, checked against a model of it.
    #[test]
    fn endpoint_serde_round_trip(
        changes in proptest::collection::vec(0u8..6, 0..12),
        patterns in proptest::collection::vec("(sales|crm|course)\\.\\*|\\*", 1..3),
    ) {
        let policy = UrlPolicy::new();
        let (mut endpoint, _) =
            Endpoint::create(at(T0), "ep_1", "https://crm.example.com/hooks", &policy).unwrap();
        endpoint.set_filter(at(T0), EventFilter::parse(&patterns).unwrap());
        let endpoint = endpoint.with_failure_rule(2, Duration::from_secs(30 * 86_400));
        let mut endpoint = endpoint;
        // The model: (status, deliveries that gave up in a row).
        let mut model = (EndpointStatus::Active, 0u32);
        let mut now = at(T0);
        for change in changes {
            now = at(now.unix() + 3_600);
            match change {
                0 => {
                    endpoint.pause(now);
                    model.0 = EndpointStatus::Paused;
                }
                1 => {
                    endpoint.resume(now);
                    if model.0 == EndpointStatus::Paused {
                        model.0 = EndpointStatus::Active;
                    }
                }
                2 => {
                    endpoint.disable(now);
                    model.0 = EndpointStatus::Disabled;
                }
                3 => {
                    endpoint.reactivate(now);
                    model = (EndpointStatus::Active, 0);
                }
                4 => {
                    let status = endpoint.record_result(
                        now,
                        Next::GaveUp(lms_webhooks::delivery::GiveUpReason::Exhausted),
                    );
                    model.1 += 1;
                    if model.0 == EndpointStatus::Active && model.1 >= 2 {
                        model.0 = EndpointStatus::Failed;
                    }
                    prop_assert_eq!(status, model.0);
                }
                _ => {
                    endpoint.rotate_secret(now, Duration::from_secs(86_400)).unwrap();
                }
            }
            prop_assert_eq!(endpoint.status(), model.0);
        }
        let text = serde_json::to_string(&endpoint).unwrap();
        let back: Endpoint = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &endpoint);
        prop_assert_eq!(back.status(), model.0);
        prop_assert_eq!(back.consecutive_failures(), model.1);
    }

    /// Delivery URLs from an admin form.
    #[test]
    fn url_policy_never_panics(
        text in ".{0,80}",
        shaped in "(https?|ftp|HTTPS)://[a-z0-9.:\\[\\]@%_-]{0,40}(/[a-z]{0,5})?",
    ) {
        for policy in [UrlPolicy::new(), UrlPolicy::new().with_http_allowed(true).with_private_allowed(true)] {
            let _ = policy.check(&text);
            let _ = policy.check(&shaped);
        }
    }

    /// `Retry-After` values from endpoints.
    #[test]
    fn retry_after_never_panics(
        text in ".{0,40}",
        date in "(Mon|Tue|Sun|Xyz), [0-9]{1,2} (Jan|Oct|Foo) [0-9]{1,5} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC)",
        secs in any::<u64>(),
    ) {
        let now = at(T0);
        let _ = parse_retry_after(now, &text);
        let _ = parse_retry_after(now, &date);
        let seconds = secs.to_string();
        let parsed = parse_retry_after(now, &seconds);
        if seconds.len() <= 12 {
            prop_assert_eq!(parsed, Some(Duration::from_secs(secs)));
        }
    }

    /// Platform bodies (after decryption) of any shape.
    #[test]
    fn profile_parse_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        value in json_value(),
        ty in "[a-zA-Z._]{0,24}",
        when in json_value(),
    ) {
        let shaped = json!({"type": ty, "trigger": ty, "event": ty, "id": "evt_1",
            "created": when, "timestamp": when, "data": value, "user": value});
        let shaped = serde_json::to_vec(&shaped).unwrap();
        for profile in profiles() {
            let _ = profile.parse(at(T0), &bytes, None);
            let _ = profile.parse(at(T0), &shaped, Some("msg_1"));
        }
    }

    /// The full receiver on arbitrary requests, for every profile.
    #[test]
    fn receiver_never_panics(
        headers in proptest::collection::vec(("(webhook|svix)-(id|timestamp|signature)|learnworlds-webhook-signature|x-learnomy-signature", ".{0,60}"), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
        for profile in profiles() {
            let receiver = Receiver::new(profile)
                .with_secret(secret.clone())
                .with_key(key.clone())
                .with_tolerance(Tolerance::Ignore);
            if let Err(e) = receiver.receive(at(T0), &headers, &body) {
                prop_assert!((400..=500).contains(&e.http_status().as_u16()));
            }
        }
    }

    /// Configuration text: filters, secrets, keys, ids, timestamps.
    #[test]
    fn configuration_parsers_never_panic(text in ".{0,80}", list in proptest::collection::vec(".{0,20}", 0..4)) {
        let _ = EventFilter::parse(&list);
        let _ = EventFilter::parse(text.split(','));
        let _ = Secret::parse(&text);
        let _ = EncryptionKey::parse(&text);
        let _ = EventId::parse(&text);
        let _ = text.parse::<Timestamp>();
        let _ = text.parse::<EventType>();
    }

    /// Ed25519 key text: any bytes behind `whsk_` or `whpk_` parse or are refused with a
    /// typed error, never a panic; what parses writes back as it reads, and a signing key's
    /// signature verifies with its public key and with nothing else.
    #[test]
    fn ed25519_keys_parse_or_are_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..70),
        seed in any::<[u8; 32]>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        for prefix in ["whsk_", "whpk_"] {
            if let Ok(key) = Secret::parse(&format!("{prefix}{b64}")) {
                prop_assert!(key.is_asymmetric());
                let again = Secret::parse(&key.expose_text()).unwrap();
                prop_assert_eq!(&again, &key);
            }
        }
        let seed_text = base64::engine::general_purpose::STANDARD.encode(seed);
        let signing = Secret::parse(&format!("whsk_{seed_text}")).unwrap();
        let message = lms_webhooks::signature::Message::new("msg_p", at(T0), &body);
        let headers = lms_webhooks::Scheme::standard().sign(std::slice::from_ref(&signing), &message).unwrap();
        let public = signing.public_key().unwrap();
        let verify = |key: Secret| {
            lms_webhooks::Verifier::new(lms_webhooks::Scheme::standard(), [key])
                .verify(at(T0), &headers, &body)
        };
        prop_assert!(verify(public).is_ok());
        let mut other = seed;
        other[0] ^= 1;
        let other = base64::engine::general_purpose::STANDARD.encode(other);
        let stranger = Secret::parse(&format!("whsk_{other}")).unwrap().public_key().unwrap();
        prop_assert!(verify(stranger).is_err());
    }
}
