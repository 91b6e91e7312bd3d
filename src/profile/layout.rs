//! [`Layout`]: how a platform lays out its JSON body, with [`Layout::render`] (sending) and
//! [`Layout::parse`] (receiving) side by side, so that the two can never disagree.
//!
//! Reading platform bodies tolerates what real senders do: timestamps as RFC 3339 text or as
//! Unix seconds (integer or float, or milliseconds), user events whose fields sit directly in
//! `data` instead of under `data.user`, and fields this crate does not model (kept in `extra`).
//! LearnWorlds bodies carry no event id: the receiver derives a stable one from the body, so
//! that its retries (the same body) deduplicate.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::names::{from_learnworlds_type, learnworlds_names, LEARNINK_NAMES};
use crate::{Envelope, EnvelopeError, Timestamp};

/// How a platform lays out its JSON body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "layout", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layout {
    /// `{id, type, timestamp, data}`.
    #[default]
    Canonical,
    /// `{version, type, trigger, school_id, data}` with LearnWorlds' event names.
    LearnWorlds {
        /// 2 (the current payloads) or 1 (legacy: the same keys without `trigger`).
        version: u8,
        /// The school's id.
        school_id: String,
    },
    /// `{object: "event", id, type, api_version, data, timestamp}`.
    LearnInk {
        /// The API version written by senders.
        api_version: String,
    },
}

impl Layout {
    /// The body in this layout for `envelope` (before encryption).
    pub fn render(&self, envelope: &Envelope) -> Result<Bytes, EnvelopeError> {
        let canonical = envelope.to_bytes()?;
        if *self == Layout::Canonical {
            return Ok(canonical);
        }
        let value: Value = serde_json::from_slice(&canonical)
            .map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        let canonical_type = envelope.event().type_str();
        let out = match self {
            Layout::LearnWorlds { version, school_id } => {
                let (ty, trigger) = envelope
                    .event()
                    .event_type()
                    .and_then(learnworlds_names)
                    .unwrap_or((canonical_type, canonical_type));
                let mut o =
                    json!({"version": version, "type": ty, "school_id": school_id, "data": data});
                if *version >= 2 {
                    o["trigger"] = json!(trigger);
                }
                o
            }
            Layout::LearnInk { api_version } => {
                let ty = envelope
                    .event()
                    .event_type()
                    .and_then(|t| LEARNINK_NAMES.iter().find(|(et, _)| *et == t))
                    .map_or(canonical_type, |&(_, name)| name);
                json!({
                    "object": "event",
                    "id": envelope.id().as_str(),
                    "type": ty,
                    "api_version": api_version,
                    "data": data,
                    "timestamp": envelope.timestamp(),
                })
            }
            Layout::Canonical => value,
        };
        serde_json::to_vec(&out)
            .map(Bytes::from)
            .map_err(|e| EnvelopeError::Serialize(e.to_string()))
    }

    /// Reads a body in this layout (after decryption) into the canonical envelope.
    ///
    /// `signed_id` is the id the signature headers carried, if any; `now` stands in for the
    /// occurred-at time of bodies that carry none (LearnWorlds).
    pub fn parse(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
    ) -> Result<Envelope, EnvelopeError> {
        self.read(now, body, signed_id, false)
    }

    /// [`Layout::parse`], keeping a catalogue event whose `data` does not fit as
    /// [`Event::Untyped`](crate::Event::Untyped) (see [`Envelope::from_slice_lenient`]).
    pub fn parse_lenient(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
    ) -> Result<Envelope, EnvelopeError> {
        self.read(now, body, signed_id, true)
    }

    fn read(
        &self,
        now: Timestamp,
        body: &[u8],
        signed_id: Option<&str>,
        lenient: bool,
    ) -> Result<Envelope, EnvelopeError> {
        let envelope = |bytes: &[u8]| match lenient {
            true => Envelope::from_slice_lenient(bytes),
            false => Envelope::from_slice(bytes),
        };
        if *self == Layout::Canonical {
            return envelope(body);
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(mut o) = value else {
            return Err(EnvelopeError::NotAnObject);
        };
        let text = |o: &Map<String, Value>, key: &'static str| -> Result<String, EnvelopeError> {
            match o.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(EnvelopeError::InvalidField {
                    field: key,
                    message: "expected a string".to_owned(),
                }),
                None => Err(EnvelopeError::MissingField(key)),
            }
        };
        let (event_type, id) = match self {
            Layout::LearnWorlds { .. } => {
                let ty = text(&o, "type")?;
                let canonical = from_learnworlds_type(&ty).map_or(ty, |t| t.as_str().to_owned());
                let id = match signed_id {
                    Some(id) => id.to_owned(),
                    None => derived_id(body),
                };
                (canonical, id)
            }
            _ => {
                let ty = text(&o, "type")?;
                let canonical = LEARNINK_NAMES
                    .iter()
                    .find(|(_, name)| *name == ty)
                    .map_or(ty, |(t, _)| t.as_str().to_owned());
                let id = match (o.get("id"), signed_id) {
                    (Some(Value::String(id)), _) => id.clone(),
                    (_, Some(id)) => id.to_owned(),
                    _ => derived_id(body),
                };
                (canonical, id)
            }
        };
        let timestamp = match o.get("timestamp").or_else(|| o.get("created")) {
            Some(v) => lenient_timestamp(v).ok_or(EnvelopeError::InvalidField {
                field: "timestamp",
                message: "expected RFC 3339 text or Unix seconds".to_owned(),
            })?,
            None => now,
        };
        let mut data = o
            .remove("data")
            .ok_or(EnvelopeError::MissingField("data"))?;
        // User events: the fields may sit directly in `data` instead of under `data.user`.
        if event_type.starts_with("crm.user.") {
            if let Value::Object(fields) = &data {
                if !fields.contains_key("user") {
                    data = json!({ "user": data });
                }
            }
        }
        let canonical = json!({
            "id": id,
            "type": event_type,
            "timestamp": timestamp,
            "data": data,
        });
        let bytes =
            serde_json::to_vec(&canonical).map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
        envelope(&bytes)
    }
}

/// A stable id for bodies that carry none: `body_` and 32 hex digits of the body's SHA-256.
fn derived_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut id = String::from("body_");
    crate::codec::push_hex(&mut id, &digest[..16]);
    id
}

/// RFC 3339 text, or Unix seconds (integer or float; values over 10^11 are milliseconds).
fn lenient_timestamp(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => Timestamp::parse_rfc3339(s)
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().and_then(seconds)),
        Value::Number(n) => n.as_f64().and_then(seconds),
        _ => None,
    }
}

fn seconds(n: f64) -> Option<Timestamp> {
    if !n.is_finite() {
        return None;
    }
    let millis = if n.abs() > 1e11 { n } else { n * 1000.0 };
    if millis.abs() > 9.0e15 {
        return None;
    }
    Timestamp::from_unix_millis(millis.round() as i64).ok()
}
