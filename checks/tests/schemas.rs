//! The generated JSON Schemas and OpenAPI document, checked with an independent validator
//! (the `jsonschema` crate, formats asserted): every sample validates; a wrong field type or
//! a missing required field fails, and the crate's own parser refuses the same bodies; unknown
//! fields pass, as the crate keeps them in `extra`; the platforms' realistic bodies, once
//! received, validate too.

use std::path::Path;

use jsonschema::{Draft, Validator};
use lms_webhooks::event::Currency;
use lms_webhooks::{schema, Envelope, EventType, OperationalType, Profile, Timestamp};
use serde_json::{json, Value};

fn validator(schema: &Value) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sample(t: EventType) -> Value {
    serde_json::from_slice(&schema::sample_envelope(t).to_vec().unwrap()).unwrap()
}

#[test]
fn every_schema_is_a_2020_12_schema_and_every_sample_validates() {
    for &t in EventType::ALL {
        let s = schema::event_schema(t);
        jsonschema::meta::validate(&s).unwrap_or_else(|e| panic!("{t}: {e}"));
        let v = validator(&s);
        let instance = sample(t);
        let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{t}: {errors:?}");
        // Another type's envelope does not.
        let other = if t == EventType::WebhookTest {
            EventType::SalesTransactionCompleted
        } else {
            EventType::WebhookTest
        };
        assert!(!v.is_valid(&sample(other)), "{t} accepts {other}");
    }
}

/// For every type: each required field of the payload, removed, and each, given a value of
/// the wrong type, fails the schema; the crate's strict parser refuses the same body.
#[test]
fn missing_or_mistyped_required_fields_fail_both_the_schema_and_the_crate() {
    let mut checked = 0;
    for &t in EventType::ALL {
        let s = schema::event_schema(t);
        let v = validator(&s);
        let reference = s["properties"]["data"]["$ref"].as_str().unwrap();
        let payload = &s["$defs"][reference.trim_start_matches("#/$defs/")];
        let required: Vec<&str> = payload["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for field in required {
            let mut missing = sample(t);
            missing["data"].as_object_mut().unwrap().remove(field);
            assert!(!v.is_valid(&missing), "{t} without {field} passes");
            assert!(
                Envelope::from_slice(&serde_json::to_vec(&missing).unwrap()).is_err(),
                "{t} without {field}: the crate reads it"
            );

            let mut mistyped = sample(t);
            let wrong = match &mistyped["data"][field] {
                Value::String(_) => json!(42),
                Value::Number(_) => json!("forty-two"),
                Value::Bool(_) => json!("yes"),
                Value::Array(_) | Value::Object(_) => json!(true),
                Value::Null => continue,
            };
            mistyped["data"][field] = wrong.clone();
            assert!(!v.is_valid(&mistyped), "{t}.{field} = {wrong} passes");
            assert!(
                Envelope::from_slice(&serde_json::to_vec(&mistyped).unwrap()).is_err(),
                "{t}.{field} = {wrong}: the crate reads it"
            );
            checked += 1;
        }
        // The envelope's own fields.
        for field in ["id", "type", "timestamp", "data"] {
            let mut missing = sample(t);
            missing.as_object_mut().unwrap().remove(field);
            assert!(!v.is_valid(&missing), "{t} without {field} passes");
        }
        let mut bad_time = sample(t);
        bad_time["timestamp"] = json!("yesterday");
        assert!(
            !v.is_valid(&bad_time),
            "{t}: a timestamp that is not RFC 3339 passes"
        );
    }
    assert!(checked > 80, "only {checked} required fields checked");
}

#[test]
fn unknown_fields_are_allowed_as_the_crate_keeps_them() {
    for &t in EventType::ALL {
        let v = validator(&schema::event_schema(t));
        let mut instance = sample(t);
        instance["x_envelope_note"] = json!("kept");
        let data = instance["data"].as_object_mut().unwrap();
        // Inside nested entities too (a person, a course...).
        for value in data.values_mut() {
            if let Value::Object(entity) = value {
                entity.insert("x_unmodelled".into(), json!(true));
            }
        }
        data.insert("x_platform".into(), json!({"nested": [1, 2, 3]}));
        let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{t}: {errors:?}");
        let read = Envelope::from_slice(&serde_json::to_vec(&instance).unwrap()).unwrap();
        let again: Value = serde_json::from_slice(&read.to_vec().unwrap()).unwrap();
        assert_eq!(
            again["data"]["x_platform"],
            json!({"nested": [1, 2, 3]}),
            "{t}"
        );
    }
}

#[test]
fn money_is_integer_minor_units() {
    let v = validator(&schema::event_schema(EventType::SalesPaymentCreated));
    let mut instance = sample(EventType::SalesPaymentCreated);
    instance["data"]["amount"] = json!({"amount": 49.9, "currency": "EUR"});
    assert!(!v.is_valid(&instance), "a float amount passes");
    instance["data"]["amount"] = json!({"amount": 4990, "currency": "EURO"});
    assert!(!v.is_valid(&instance), "a four-letter currency passes");
    instance["data"]["amount"] = json!({"amount": 4990, "currency": "eur"});
    assert!(v.is_valid(&instance), "the crate reads lower case");
}

#[test]
fn the_openapi_document_lists_every_event_with_a_valid_example() {
    let api = schema::openapi();
    assert_eq!(api["openapi"], "3.1.0");
    let webhooks = api["webhooks"].as_object().unwrap();
    assert_eq!(
        webhooks.len(),
        EventType::ALL.len() + OperationalType::ALL.len()
    );
    let wires = EventType::ALL.iter().map(|t| t.as_str());
    for t in wires.chain(OperationalType::ALL.iter().map(|t| t.as_str())) {
        let content = &webhooks[t]["post"]["requestBody"]["content"]["application/json"];
        let reference = content["schema"]["$ref"].as_str().unwrap();
        // The component, resolved inside the document itself.
        let root = json!({
            "$schema": schema::DIALECT,
            "$ref": reference,
            "components": api["components"],
        });
        let v = validator(&root);
        assert!(v.is_valid(&content["example"]), "{t}: its example fails");
        assert!(!v.is_valid(&json!({"id": "x", "type": t})), "{t}");
    }
}

/// The operational events' schemas: valid 2020-12 schemas, their samples validate, another
/// type's envelope does not, and a mistyped required field fails.
#[test]
fn every_operational_schema_validates_its_sample() {
    let sample = |t: OperationalType| -> Value {
        serde_json::from_slice(&schema::sample_operational_envelope(t).to_vec().unwrap()).unwrap()
    };
    for &t in OperationalType::ALL {
        let s = schema::operational_schema(t);
        jsonschema::meta::validate(&s).unwrap_or_else(|e| panic!("{t}: {e}"));
        let v = validator(&s);
        let errors: Vec<String> = v.iter_errors(&sample(t)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{t}: {errors:?}");
        let other = if t == OperationalType::EndpointFailed {
            OperationalType::DeliveryExhausted
        } else {
            OperationalType::EndpointFailed
        };
        assert!(!v.is_valid(&sample(other)), "{t} accepts {other}");
        let mut mistyped = sample(t);
        mistyped["data"]["endpoint_id"] = json!(7);
        assert!(!v.is_valid(&mistyped), "{t}");
        let body = serde_json::to_vec(&mistyped).unwrap();
        assert!(
            Envelope::from_slice(&body).is_err(),
            "{t}: the crate reads it"
        );
    }
}

/// What the platform mappings make of the realistic bodies fits the schemas.
#[test]
fn received_platform_bodies_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/platforms");
    let profiles = [
        (
            "learnworlds",
            Profile::learnworlds("s").with_currency(Currency::EUR),
        ),
        ("learnink", Profile::learnink()),
    ];
    let mut count = 0;
    for (dir, profile) in profiles {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            let envelope = profile
                .parse(
                    Timestamp::from_unix(1_800_000_000).unwrap(),
                    &body,
                    Some("msg_1"),
                )
                .unwrap();
            let t = envelope.event().event_type().unwrap();
            let instance: Value = serde_json::from_slice(&envelope.to_vec().unwrap()).unwrap();
            let v = validator(&schema::event_schema(t));
            let errors: Vec<String> = v.iter_errors(&instance).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{dir} {t}: {errors:?}");
            count += 1;
        }
    }
    assert_eq!(count, 21);
}
