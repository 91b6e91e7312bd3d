//! Machine-readable event shapes for receivers in any language: a JSON Schema (draft 2020-12)
//! per event type, and an OpenAPI 3.1 document whose `webhooks` list every event with its
//! schema, the Standard Webhooks headers and an example body.
//!
//! Both are generated from the payload types themselves (with `schemars`), so they cannot
//! drift from what the crate sends and reads. The generated files are committed under
//! `schemas/` in the repository (`schemas/<type>.json`, `schemas/openapi.json`); a test
//! regenerates them and fails on any difference. From the command line:
//! `webhook schema TYPE`, `webhook schema --openapi`, `webhook sample TYPE`.
//!
//! What the schemas say, and what they leave to the crate:
//! - required payload fields are `required`; optional ones and lists may be absent;
//! - unknown fields are allowed everywhere (the crate keeps them in `extra`);
//! - money is `{amount, currency}` with `amount` an integer in minor units;
//! - open string sets (statuses, intervals) are any string, the known values in `examples`;
//! - rules across fields (a person needs an `id` or an `email`, a score within its maximum)
//!   are checked by the crate's builders, not by the schemas.
//!
//! # Examples
//!
//! ```
//! use lms_webhooks::schema;
//! use lms_webhooks::{EventType, OperationalType};
//!
//! let s = schema::event_schema(EventType::SalesPaymentCreated);
//! assert_eq!(s["$schema"], schema::DIALECT);
//! assert_eq!(s["properties"]["type"]["const"], "sales.payment.created");
//! assert_eq!(s["properties"]["data"]["$ref"], "#/$defs/Payment");
//! assert!(s["$defs"]["Money"]["required"].as_array().unwrap().contains(&"amount".into()));
//!
//! let api = schema::openapi();
//! assert_eq!(api["openapi"], "3.1.0");
//! assert_eq!(
//!     api["webhooks"].as_object().unwrap().len(),
//!     EventType::ALL.len() + OperationalType::ALL.len()
//! );
//!
//! // The operational events (news about the webhooks themselves) have theirs too.
//! let s = schema::operational_schema(OperationalType::EndpointFailed);
//! assert_eq!(s["properties"]["type"]["const"], "operational.endpoint.failed");
//! ```

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::envelope::MAX_ID_LEN;
use crate::event::{OperationalEvent, OperationalType};
use crate::{Envelope, Event, EventId, EventType, Timestamp};

/// The JSON Schema dialect of every schema here.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The id of [`sample_envelope`]s: fixed, so that generated documents are reproducible.
pub const SAMPLE_ID: &str = "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3";

/// The JSON Schema of `event_type`'s envelope: `id`, `type` (that type), `timestamp` and the
/// typed `data`, with the payloads' definitions under `$defs`.
pub fn event_schema(event_type: EventType) -> Value {
    standalone(event_type.as_str(), |g| event_type.data_schema(g))
}

/// The JSON Schema of an operational type's envelope, as [`event_schema`] gives a catalogue
/// type's.
pub fn operational_schema(event_type: OperationalType) -> Value {
    standalone(event_type.as_str(), |g| event_type.data_schema(g))
}

/// A schema document of its own: the envelope of `wire` with `data`'s definitions under
/// `$defs`.
fn standalone(
    wire: &str,
    data: impl FnOnce(&mut schemars::SchemaGenerator) -> schemars::Schema,
) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let data = data(&mut generator).to_value();
    let definitions = generator.take_definitions(true);
    let mut schema = json!({ "$schema": DIALECT });
    let envelope = envelope_schema(wire, data);
    merge(&mut schema, envelope);
    schema["$defs"] = Value::Object(definitions);
    tidy(&mut schema);
    schema
}

/// The OpenAPI 3.1 document: one entry per catalogue type under `webhooks` (a `POST` with the
/// Standard Webhooks headers, the envelope's schema and [`sample_envelope`] as its example),
/// then one per operational type (tagged `operational`), every schema under
/// `components/schemas`.
pub fn openapi() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut webhooks = Map::new();
    let mut envelopes = Map::new();
    let mut add = |wire: &str, tag: &str, name: String, data: Value, example: Envelope| {
        envelopes.insert(name.clone(), envelope_schema(wire, data));
        let example = serde_json::to_value(example).unwrap_or(Value::Null);
        webhooks.insert(
            wire.to_owned(),
            json!({
                "post": {
                    "operationId": wire.replace('.', "_"),
                    "summary": wire,
                    "tags": [tag],
                    "parameters": headers(),
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": {
                                "schema": { "$ref": format!("#/components/schemas/{name}") },
                                "example": example,
                            }
                        }
                    },
                    "responses": {
                        "2XX": { "description": "Received. Any other answer (or none within the timeout) is retried." }
                    }
                }
            }),
        );
    };
    for &t in EventType::ALL {
        let data = t.data_schema(&mut generator).to_value();
        add(
            t.as_str(),
            t.category().as_str(),
            format!("{t:?}Event"),
            data,
            sample_envelope(t),
        );
    }
    for &t in OperationalType::ALL {
        let data = t.data_schema(&mut generator).to_value();
        let name = format!("Operational{t:?}Event");
        add(
            t.as_str(),
            "operational",
            name,
            data,
            sample_operational_envelope(t),
        );
    }
    let mut schemas = generator.take_definitions(true);
    schemas.extend(envelopes);
    let mut document = json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "lms-webhooks events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every event a learning platform sends with lms-webhooks: the JSON envelope `{id, type, timestamp, data}` (timestamp = when the event occurred), signed with Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`: `v1,` HMAC-SHA256 or `v1a,` Ed25519, over `{id}.{timestamp}.{body}`). Verify the raw body before parsing it; deduplicate on `webhook-id`.",
        },
        "webhooks": webhooks,
        "components": { "schemas": schemas },
    });
    tidy(&mut document);
    document
}

/// The canonical envelope of [`Event::sample`]`(event_type)` with the fixed [`SAMPLE_ID`]
/// and time (2026-11-23T09:30:00Z): what `webhook sample TYPE` prints and the OpenAPI
/// document shows.
pub fn sample_envelope(event_type: EventType) -> Envelope {
    sample_of(Event::sample(event_type))
}

/// The envelope of [`OperationalEvent::sample`]`(event_type)`, with the same fixed id and time
/// as [`sample_envelope`].
pub fn sample_operational_envelope(event_type: OperationalType) -> Envelope {
    sample_of(Event::Operational(OperationalEvent::sample(event_type)))
}

fn sample_of(event: Event) -> Envelope {
    let id = EventId::parse(SAMPLE_ID).unwrap_or_else(|_| EventId::new());
    let at = Timestamp::from_unix(1_795_426_200).unwrap_or_else(|_| Timestamp::now());
    Envelope::from_parts(id, at, event)
}

fn envelope_schema(wire: &str, data: Value) -> Value {
    json!({
        "title": wire,
        "description": format!("The `{wire}` event: the envelope with its typed `data`."),
        "type": "object",
        "required": ["id", "type", "timestamp", "data"],
        "properties": {
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_ID_LEN,
                "description": "The event id: stable across retries, the key to deduplicate on.",
            },
            "type": { "const": wire },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the event occurred (RFC 3339, UTC), not when it was delivered.",
            },
            "data": data,
        },
    })
}

fn headers() -> Value {
    let header = |name: &str, description: &str, example: &str| {
        json!({
            "in": "header",
            "name": name,
            "required": true,
            "description": description,
            "schema": { "type": "string" },
            "example": example,
        })
    };
    json!([
        header("webhook-id", "The message id, stable across retries (the envelope's `id`).", SAMPLE_ID),
        header("webhook-timestamp", "The attempt's time, Unix seconds; refuse it more than 5 minutes from your clock.", "1795426200"),
        header("webhook-signature", "Space-separated signatures of `{webhook-id}.{webhook-timestamp}.{body}`: `v1,<base64 HMAC-SHA256>` with the shared `whsec_` secret, or `v1a,<base64 Ed25519>` with the `whpk_` public key.", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
    ])
}

/// Descriptions come from the Rust docs: keep their prose for other languages, without the
/// Rust-only parts (builders, examples) and with rustdoc links as plain code.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => *text = plain(text),
                    _ => tidy(v),
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn plain(text: &str) -> String {
    let mut text = text;
    for cut in ["\n\nBuild one with", "\n\n# Examples", "\n\n```"] {
        if let Some(at) = text.find(cut) {
            text = &text[..at];
        }
    }
    // [`Name`](path) and [`Name`] become `Name`.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find("`]") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        out.push_str(&after[..end + 1]);
        rest = &after[end + 2..];
        if let Some(link) = rest.strip_prefix('(') {
            if let Some(close) = link.find(')') {
                rest = &link[close + 1..];
            }
        }
    }
    out.push_str(rest);
    out.trim_end().to_owned()
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}
