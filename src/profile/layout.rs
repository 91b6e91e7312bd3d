//! [`Layout`]: how a platform lays out its JSON body, with [`Layout::render`] (sending) and
//! [`Layout::parse`] (receiving) side by side, so that the two can never disagree.
//!
//! Reading platform bodies tolerates what real senders do: timestamps as RFC 3339 text or as
//! Unix seconds (integer or float, or milliseconds), and the platforms' own `data` shapes
//! (entities nested under their names, flat users, prices in major units), mapped onto the
//! typed payloads with every unmodelled field kept in `extra` (see `platform.rs`). A body whose
//! `data` still does not fit arrives as [`Event::Untyped`] from the lenient parse, with the data
//! as it was sent.
//! LearnWorlds bodies carry no event id: the receiver derives a stable one from the body, so
//! that its retries (the same body) deduplicate; nor an occurred-at time: the `data`'s own date
//! (`date`, `completed_at`, `created_at`, the payment's `paid_at`) stands for it.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::names::{from_learnink_type, from_learnworlds_type, learnworlds_names, LEARNINK_NAMES};
use super::platform::{self, Source};
use crate::event::{Currency, UntypedEvent};
use crate::{Envelope, EnvelopeError, Event, EventId, EventType, Timestamp};

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
        /// The school's currency: LearnWorlds writes prices in major units and names no
        /// currency in payments, so a receiver needs it to read them as [`Money`](crate::event::Money)
        /// (see [`Profile::with_currency`](crate::Profile::with_currency)). Without it, a body
        /// with prices and no currency arrives as [`Event::Untyped`](crate::Event::Untyped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<Currency>,
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
            Layout::LearnWorlds {
                version, school_id, ..
            } => {
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
                let canonical = from_learnink_type(&ty).map_or(ty, |t| t.as_str().to_owned());
                let id = match (o.get("id"), signed_id) {
                    (Some(Value::String(id)), _) => id.clone(),
                    (_, Some(id)) => id.to_owned(),
                    _ => derived_id(body),
                };
                (canonical, id)
            }
        };
        let data = o
            .remove("data")
            .ok_or(EnvelopeError::MissingField("data"))?;
        let timestamp = match o.get("timestamp").or_else(|| o.get("created")) {
            Some(v) => lenient_timestamp(v).ok_or(EnvelopeError::InvalidField {
                field: "timestamp",
                message: "expected RFC 3339 text or Unix seconds".to_owned(),
            })?,
            None => match self {
                Layout::LearnWorlds { .. } => platform::learnworlds_occurred_at(&data),
                _ => None,
            }
            .unwrap_or(now),
        };
        let Ok(known) = event_type.parse::<EventType>() else {
            return envelope(&canonical_bytes(&id, &event_type, timestamp, &data)?);
        };
        // The platform's shape mapped onto the typed payload.
        let currency = match self {
            Layout::LearnWorlds { currency, .. } => *currency,
            _ => None,
        };
        let src = Source::new(body, currency);
        let mapped = match self {
            Layout::LearnWorlds { .. } => platform::learnworlds(known, data.clone(), &src),
            _ => Ok(platform::learnink(known, data.clone(), &src)),
        };
        let typed = mapped
            .map_err(|message| EnvelopeError::Data {
                event_type: event_type.clone(),
                path: "data".to_owned(),
                message,
            })
            .and_then(|mapped| {
                Envelope::from_slice(&canonical_bytes(&id, &event_type, timestamp, &mapped)?)
            });
        match typed {
            Err(error @ EnvelopeError::Data { .. }) if lenient => {
                let id = EventId::parse(&id).map_err(|e| EnvelopeError::InvalidField {
                    field: "id",
                    message: e.to_string(),
                })?;
                let untyped = UntypedEvent::new(known, data, error);
                Ok(Envelope::from_parts(id, timestamp, Event::Untyped(untyped)))
            }
            other => other,
        }
    }
}

fn canonical_bytes(
    id: &str,
    event_type: &str,
    timestamp: Timestamp,
    data: &Value,
) -> Result<Vec<u8>, EnvelopeError> {
    let canonical = json!({
        "id": id,
        "type": event_type,
        "timestamp": timestamp,
        "data": data,
    });
    serde_json::to_vec(&canonical).map_err(|e| EnvelopeError::Serialize(e.to_string()))
}

/// A stable id for bodies that carry none: `body_` and 32 hex digits of the body's SHA-256.
fn derived_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut id = String::from("body_");
    crate::codec::push_hex(&mut id, &digest[..16]);
    id
}

/// RFC 3339 text, or Unix seconds (integer or float; values over 10^11 are milliseconds).
pub(super) fn lenient_timestamp(v: &Value) -> Option<Timestamp> {
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
