//! Reading envelopes: custom and unknown types, extra fields, and every kind of bad input.

use lms_webhooks::event::{Currency, Money, Person, Transaction, TransactionStatus};
use lms_webhooks::{
    BuildError, Envelope, EnvelopeError, Event, EventId, EventType, EventTypeError, SalesEvent,
    Timestamp,
};
use serde_json::json;

fn body(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

fn valid_sale() -> serde_json::Value {
    json!({
        "id": "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3",
        "type": "sales.transaction.completed",
        "timestamp": "2026-11-23T09:30:00Z",
        "data": {
            "id": "tr_1",
            "status": "completed",
            "amount": {"amount": 4990, "currency": "EUR"},
            "customer": {"email": "ada@example.com"}
        }
    })
}

#[test]
fn a_minimal_sale_parses_into_its_typed_payload() {
    let env = Envelope::from_slice(&body(valid_sale())).unwrap();
    assert_eq!(env.id().as_str(), "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3");
    assert_eq!(env.timestamp().to_string(), "2026-11-23T09:30:00Z");
    let Event::Sales(SalesEvent::TransactionCompleted(tx)) = env.event() else {
        panic!("wrong variant: {:?}", env.event());
    };
    assert_eq!(tx.amount, Money::new(4990, Currency::EUR));
    assert_eq!(tx.customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(tx.status, Some(TransactionStatus::Completed));
}

#[test]
fn unknown_types_arrive_as_unknown_with_their_raw_data() {
    let data = json!({"badge": "night-owl", "nested": {"list": [1, 2.5, null, "x"]}});
    let mut v = valid_sale();
    v["type"] = json!("lms.badge.earned");
    v["data"] = data.clone();
    let env = Envelope::from_slice(&body(v)).unwrap();
    let Event::Unknown(raw) = env.event() else {
        panic!("expected Unknown, got {:?}", env.event());
    };
    assert_eq!(raw.event_type(), "lms.badge.earned");
    assert_eq!(raw.data(), &data);
    assert_eq!(env.event().event_type(), None);
    // And back to the same JSON.
    let again: serde_json::Value = serde_json::from_slice(&env.to_vec().unwrap()).unwrap();
    assert_eq!(again["data"], data);
    assert_eq!(again["type"], "lms.badge.earned");
}

#[test]
fn custom_events_round_trip_with_their_data() {
    let data = json!({"seat": 12, "tags": ["a", "b"]});
    let event = Event::custom("lms.seat.assigned", data.clone()).unwrap();
    let env = Envelope::from_parts(EventId::new(), Timestamp::from_unix(1).unwrap(), event);
    let back = Envelope::from_slice(&env.to_bytes().unwrap()).unwrap();
    // The receiver does not know the type, so it is Unknown there, with the same type and data.
    let Event::Unknown(raw) = back.event() else {
        panic!("expected Unknown");
    };
    assert_eq!(raw.event_type(), "lms.seat.assigned");
    assert_eq!(raw.data(), &data);
}

#[test]
fn custom_types_must_be_dotted_and_not_catalogue_names() {
    for bad in [
        "",
        "badge",
        "Lms.Badge",
        "lms..badge",
        ".lms",
        "lms.",
        "lms badge.x",
        "lms.bädge",
    ] {
        assert!(
            matches!(
                Event::custom(bad, json!({})),
                Err(EventTypeError::Malformed { .. })
            ),
            "{bad:?} should be malformed"
        );
    }
    assert!(matches!(
        Event::custom("sales.transaction.completed", json!({})),
        Err(EventTypeError::Reserved { .. })
    ));
    assert!(matches!(
        "x".repeat(129).replace("xx", "x.").parse::<EventType>(),
        Err(EventTypeError::Malformed { .. })
    ));
    assert!(matches!(
        "lms.badge.earned".parse::<EventType>(),
        Err(EventTypeError::NotInCatalogue { .. })
    ));
}

#[test]
fn fields_the_crate_does_not_model_are_kept() {
    let mut v = valid_sale();
    v["data"]["platform_order_ref"] = json!("LB-99");
    v["data"]["customer"]["crm_score"] = json!(87);
    let env = Envelope::from_slice(&body(v.clone())).unwrap();
    let Event::Sales(SalesEvent::TransactionCompleted(tx)) = env.event() else {
        panic!();
    };
    assert_eq!(tx.extra["platform_order_ref"], "LB-99");
    assert_eq!(tx.customer.extra["crm_score"], 87);
    let again: serde_json::Value = serde_json::from_slice(&env.to_vec().unwrap()).unwrap();
    assert_eq!(again["data"], v["data"]);
}

fn err(bytes: &[u8]) -> EnvelopeError {
    Envelope::from_slice(bytes).expect_err("must be rejected")
}

#[test]
fn truncated_or_non_json_bodies_are_syntax_errors() {
    let full = body(valid_sale());
    for cut in [1, 10, full.len() / 2, full.len() - 1] {
        assert!(
            matches!(err(&full[..cut]), EnvelopeError::Syntax { .. }),
            "cut at {cut}"
        );
    }
    assert!(matches!(err(b""), EnvelopeError::Syntax { .. }));
    assert!(matches!(err(b"not json"), EnvelopeError::Syntax { .. }));
    let mut trailing = full.clone();
    trailing.extend_from_slice(b" {}");
    assert!(matches!(err(&trailing), EnvelopeError::Syntax { .. }));
}

#[test]
fn non_objects_and_duplicates_are_rejected() {
    assert_eq!(err(b"[]"), EnvelopeError::NotAnObject);
    assert_eq!(err(b"42"), EnvelopeError::NotAnObject);
    assert_eq!(err(b"null"), EnvelopeError::NotAnObject);
    let dup = br#"{"id":"a","type":"webhook.test","type":"sales.x","timestamp":"2026-11-23T09:30:00Z","data":{}}"#;
    assert!(
        matches!(err(dup), EnvelopeError::Malformed { .. }),
        "{:?}",
        err(dup)
    );
}

/// A payload is read in one pass (each key a field or kept in `extra`), with the derive's
/// rules: a field given twice is refused and named, a null optional field is absent, a key
/// written with escapes is still its field, unknown keys keep their order-free values.
#[test]
fn payload_fields_read_in_one_pass_keep_the_derive_rules() {
    let dup = br#"{"id":"evt_1","type":"sales.transaction.completed","timestamp":"2026-11-23T09:30:00Z","data":{"id":"tr_1","amount":{"amount":1,"currency":"EUR"},"customer":{"email":"a@example.com"},"id":"tr_2"}}"#;
    match err(dup) {
        EnvelopeError::Data { path, message, .. } => {
            assert_eq!(path, "data");
            assert!(message.contains("duplicate field `id`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let escaped = br#"{"id":"evt_1","type":"sales.transaction.completed","timestamp":"2026-11-23T09:30:00Z","data":{"\u0069d":"tr_1","amount":{"amount":1,"currency":"EUR"},"customer":{"email":"a@example.com"},"status":null,"n\u00f6te":[1]}}"#;
    let env = Envelope::from_slice(escaped).unwrap();
    let Event::Sales(SalesEvent::TransactionCompleted(tx)) = env.event() else {
        panic!("wrong variant: {:?}", env.event());
    };
    assert_eq!((tx.id.as_str(), tx.status.as_ref()), ("tr_1", None));
    assert_eq!(tx.extra.get("nöte"), Some(&json!([1])));
    assert_eq!(tx.extra.len(), 1);
}

#[test]
fn each_missing_envelope_field_is_named() {
    for field in ["id", "type", "timestamp", "data"] {
        let mut v = valid_sale();
        v.as_object_mut().unwrap().remove(field);
        assert_eq!(err(&body(v)), EnvelopeError::MissingField(field), "{field}");
    }
}

#[test]
fn wrongly_typed_envelope_fields_are_named() {
    let cases = [
        ("id", json!(12)),
        ("id", json!("")),
        ("id", json!("has space")),
        ("type", json!(["sales"])),
        ("timestamp", json!("yesterday")),
        ("timestamp", json!(true)),
    ];
    for (field, value) in cases {
        let mut v = valid_sale();
        v[field] = value.clone();
        match err(&body(v)) {
            EnvelopeError::InvalidField { field: f, .. } => assert_eq!(f, field, "{value}"),
            other => panic!("{field}={value}: {other:?}"),
        }
    }
}

#[test]
fn malformed_type_strings_are_type_errors() {
    for bad in ["", "Sales.Transaction.Completed", "sales", "sales..x"] {
        let mut v = valid_sale();
        v["type"] = json!(bad);
        assert!(matches!(err(&body(v)), EnvelopeError::Type(_)), "{bad:?}");
    }
}

#[test]
fn wrong_shaped_data_names_the_field() {
    let cases = [
        (
            "/data/amount/currency",
            json!("EURO"),
            "data.amount.currency",
        ),
        ("/data/amount/amount", json!(49.9), "data.amount.amount"),
        ("/data/amount/amount", json!("4990"), "data.amount.amount"),
        ("/data/customer", json!("ada@example.com"), "data.customer"),
        ("/data/status", json!(3), "data.status"),
        ("/data", json!(null), "data"),
        ("/data", json!([1, 2]), "data"),
    ];
    for (pointer, value, want) in cases {
        let mut v = valid_sale();
        *v.pointer_mut(pointer).unwrap() = value.clone();
        match err(&body(v)) {
            EnvelopeError::Data {
                event_type, path, ..
            } => {
                assert_eq!(event_type, "sales.transaction.completed");
                assert_eq!(path, want, "{pointer}={value}");
            }
            other => panic!("{pointer}={value}: {other:?}"),
        }
    }
    let mut v = valid_sale();
    v["data"].as_object_mut().unwrap().remove("customer");
    let e = err(&body(v));
    assert!(e.to_string().contains("customer"), "{e}");
}

#[test]
fn builders_report_missing_and_blank_fields() {
    let customer = Person::builder().email("a@example.com").build().unwrap();
    let e = Transaction::builder()
        .id("tr_1")
        .customer(customer.clone())
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        BuildError::MissingField {
            payload: "Transaction",
            field: "amount"
        }
    );
    let e = Transaction::builder()
        .id("  ")
        .amount(Money::new(1, Currency::EUR))
        .customer(customer)
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        BuildError::EmptyField {
            payload: "Transaction",
            field: "id"
        }
    );
    assert!(matches!(
        Person::builder().first_name("Nobody").build(),
        Err(BuildError::InvalidValue { .. })
    ));
    assert!(Currency::new("E1R").is_err());
    assert!(Currency::new("").is_err());
    assert!(Currency::new("€€€").is_err());
}

/// Every key order reads the same envelope: `type` before `data` (the one-pass read, `data`
/// straight into its payload) and `data` first (kept raw, then read), escaped keys and values
/// too, for every catalogue type and an unknown one.
#[test]
fn every_key_order_reads_the_same_envelope() {
    let mut envelopes: Vec<Envelope> = EventType::ALL
        .iter()
        .map(|&t| Envelope::new(Event::sample(t)))
        .collect();
    envelopes.push(
        Envelope::from_slice(&body(json!({
            "id": "evt_unknown", "type": "lms.badge.earned",
            "timestamp": "2026-11-23T09:30:00Z", "data": {"badge": "gold", "n": [1, 2]}
        })))
        .unwrap(),
    );
    for envelope in &envelopes {
        let written = envelope.to_vec().unwrap();
        assert_eq!(Envelope::from_slice(&written).unwrap(), *envelope);
        let value: serde_json::Value = serde_json::from_slice(&written).unwrap();
        let data_first = format!(
            r#"{{"data":{},"timestamp":{},"ty\u0070e":{},"extra":[{{}}],"id":{}}}"#,
            value["data"], value["timestamp"], value["type"], value["id"]
        );
        assert_eq!(
            Envelope::from_slice(data_first.as_bytes()).unwrap(),
            *envelope,
            "{data_first}"
        );
        let type_first = format!(
            r#"{{"id":{},"type":{},"extra":null,"d\u0061ta":{},"timestamp":{}}}"#,
            value["id"], value["type"], value["data"], value["timestamp"]
        );
        assert_eq!(
            Envelope::from_slice(type_first.as_bytes()).unwrap(),
            *envelope,
            "{type_first}"
        );
    }
    // And a second `data` after a typed one is refused as before.
    let twice = br#"{"id":"a","type":"webhook.test","data":{},"timestamp":"2026-11-23T09:30:00Z","data":{}}"#;
    assert!(Envelope::from_slice(twice).is_err());
}
