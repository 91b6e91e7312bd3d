//! `webhook schema TYPE` prints that event type's JSON Schema (draft 2020-12); `webhook schema
//! --openapi` the OpenAPI 3.1 document of every event; `webhook sample TYPE` the canonical
//! envelope of the type's sample (fixed id and time), to check against the schema with any
//! validator. TYPE is a catalogue type or an operational one (`operational.endpoint.failed`).

use lms_webhooks::{EventType, OperationalType};

use crate::flags::names;

/// A type the schemas cover.
#[derive(Clone, Copy)]
enum Type {
    Catalogue(EventType),
    Operational(OperationalType),
}

/// The one positional argument: a catalogue or operational type.
fn event_type(rest: &[String], command: &str) -> Result<Type, String> {
    match rest {
        [name] => match name.parse::<EventType>() {
            Ok(t) => Ok(Type::Catalogue(t)),
            Err(e) => name
                .parse::<OperationalType>()
                .map(Type::Operational)
                .map_err(|_| format!("{command} `{name}`: {e}")),
        },
        [] => Err(format!(
            "{command} needs an event type, e.g. sales.payment.created"
        )),
        [_, extra, ..] => Err(format!("unexpected argument `{extra}`")),
    }
}

pub fn sample(rest: &[String]) -> Result<(), String> {
    let t = event_type(rest, "sample")?;
    // The canonical bytes, as the crate sends them (`id`, `type`, `timestamp`, `data`).
    let mut bytes = sample_envelope(t).to_vec().map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    crate::common::write_out(&bytes)
}

#[cfg(feature = "schema")]
fn sample_envelope(t: Type) -> lms_webhooks::Envelope {
    match t {
        Type::Catalogue(t) => lms_webhooks::schema::sample_envelope(t),
        Type::Operational(t) => lms_webhooks::schema::sample_operational_envelope(t),
    }
}

/// The same envelopes as `lms_webhooks::schema::sample_envelope` and
/// `sample_operational_envelope`, for builds without schemas.
#[cfg(not(feature = "schema"))]
fn sample_envelope(t: Type) -> lms_webhooks::Envelope {
    use lms_webhooks::{Envelope, Event, EventId, OperationalEvent, Timestamp};
    let id = EventId::parse("evt_01JDX3V4S5Q8K9M2N7P6R5T4W3").unwrap_or_else(|_| EventId::new());
    let at = Timestamp::from_unix(1_795_426_200).unwrap_or_else(|_| Timestamp::now());
    let event = match t {
        Type::Catalogue(t) => Event::sample(t),
        Type::Operational(t) => Event::Operational(OperationalEvent::sample(t)),
    };
    Envelope::from_parts(id, at, event)
}

pub fn schema(rest: &[String]) -> Result<(), String> {
    let openapi = rest.iter().any(|a| a == names::OPENAPI);
    let positional: Vec<String> = rest
        .iter()
        .filter(|a| *a != names::OPENAPI)
        .cloned()
        .collect();
    if let Some(flag) = positional.iter().find(|a| a.starts_with("--")) {
        return Err(format!("unknown flag {flag}"));
    }
    let value = if openapi {
        if let Some(extra) = positional.first() {
            return Err(format!("unexpected argument `{extra}` with --openapi"));
        }
        generated(None)?
    } else {
        generated(Some(event_type(&positional, "schema")?))?
    };
    println!("{}", pretty(&value)?);
    Ok(())
}

#[cfg(feature = "schema")]
fn generated(t: Option<Type>) -> Result<serde_json::Value, String> {
    Ok(match t {
        Some(Type::Catalogue(t)) => lms_webhooks::schema::event_schema(t),
        Some(Type::Operational(t)) => lms_webhooks::schema::operational_schema(t),
        None => lms_webhooks::schema::openapi(),
    })
}

#[cfg(not(feature = "schema"))]
fn generated(_: Option<Type>) -> Result<serde_json::Value, String> {
    Err(
        "this build has no schemas: run it with `--features schema` (the files are also \
         in the repository's schemas/ directory)"
            .to_owned(),
    )
}

fn pretty(value: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}
