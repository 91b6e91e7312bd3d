//! The JSON envelope every webhook body carries, and the event id inside it.
//!
//! ```json
//! {"id": "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3", "type": "sales.transaction.refunded",
//!  "timestamp": "2026-11-23T09:30:00Z", "data": {"id": "tr_1001", ...}}
//! ```
//!
//! `timestamp` is when the event OCCURRED, not when it is delivered: an event queued while a
//! learner was offline may arrive days later with its original timestamp. Delivery time travels
//! in the signature headers instead.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

mod read;

use crate::text::strip_position;
use bytes::Bytes;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::event::{DataError, EventTypeError, UntypedEvent};
use crate::random::{self, RandomError};
use crate::{Event, EventType, Timestamp};

/// The longest event id accepted, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// An event's unique id: the receivers' deduplication key, stable across every retry.
///
/// Generated ids look like `evt_01JDX3V4S5Q8K9M2N7P6R5T4W3`: the prefix, then 26 Crockford
/// base32 characters holding 48 bits of milliseconds since the epoch and 80 random bits (the
/// ULID layout), so ids sort by creation time as plain strings. Ids read from other platforms
/// are kept as they are, as long as they are 1 to 255 visible ASCII characters.
///
/// # Examples
///
/// ```
/// use lms_webhooks::{EventId, Timestamp};
///
/// let id = EventId::new();
/// assert!(id.as_str().starts_with("evt_"));
///
/// let a = EventId::from_parts(Timestamp::from_unix(1_700_000_000)?, [0xff; 10]);
/// let b = EventId::from_parts(Timestamp::from_unix(1_700_000_001)?, [0x00; 10]);
/// assert!(a < b);
/// # Ok::<(), lms_webhooks::TimestampError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

/// An event id that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventIdError {
    /// The id is empty.
    #[error("the event id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    #[error("the event id is {len} bytes long; at most 255 are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The id holds a space, a control character or non-ASCII text.
    #[error("the event id may only hold visible ASCII characters (no spaces)")]
    InvalidCharacter,
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl EventId {
    /// The prefix of generated ids.
    pub const PREFIX: &'static str = "evt_";

    /// A fresh id from the system clock and the OS CSPRNG.
    ///
    /// # Panics
    ///
    /// If the operating system's random source fails, which does not happen on a working
    /// system. Use [`EventId::generate`] to handle that case instead.
    #[allow(clippy::new_without_default)] // a random default would surprise
    pub fn new() -> EventId {
        match EventId::generate(Timestamp::now()) {
            Ok(id) => id,
            Err(e) => panic!("{e}"),
        }
    }

    /// A fresh id for an event created at `now`, with 80 bits from the OS CSPRNG.
    pub fn generate(now: Timestamp) -> Result<EventId, RandomError> {
        let mut random = [0u8; 10];
        random::fill(&mut random)?;
        Ok(EventId::from_parts(now, random))
    }

    /// The id made of `at` (milliseconds, clamped to 0..2^48) and the given random bits.
    ///
    /// Deterministic: for tests, simulations and known-answer vectors.
    pub fn from_parts(at: Timestamp, random: [u8; 10]) -> EventId {
        let millis = at.unix_millis().clamp(0, (1 << 48) - 1) as u128;
        let mut bits = millis << 80;
        for (i, byte) in random.iter().enumerate() {
            bits |= u128::from(*byte) << (8 * (9 - i));
        }
        let mut text = String::with_capacity(Self::PREFIX.len() + 26);
        text.push_str(Self::PREFIX);
        for i in (0..26).rev() {
            let digit = ((bits >> (5 * i)) & 31) as usize;
            text.push(char::from(CROCKFORD[digit]));
        }
        EventId(text)
    }

    /// Accepts any id of 1 to 255 visible ASCII characters, such as other platforms send.
    pub fn parse(text: &str) -> Result<EventId, EventIdError> {
        if text.is_empty() {
            Err(EventIdError::Empty)
        } else if text.len() > MAX_ID_LEN {
            Err(EventIdError::TooLong { len: text.len() })
        } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
            Err(EventIdError::InvalidCharacter)
        } else {
            Ok(EventId(text.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EventId {
    type Err = EventIdError;
    fn from_str(s: &str) -> Result<EventId, EventIdError> {
        EventId::parse(s)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0)
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<EventId, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        EventId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An event with its id and the time it occurred: the canonical webhook body.
///
/// # Examples
///
/// ```
/// use lms_webhooks::{Envelope, Event, EventType};
///
/// let event = Event::sample(EventType::CourseMemberCompleted);
/// let envelope = Envelope::new(event);
/// let bytes = envelope.to_bytes()?;
///
/// let back = Envelope::from_slice(&bytes)?;
/// assert_eq!(back, envelope);
/// assert_eq!(back.event().type_str(), "course.member.completed");
/// # Ok::<(), lms_webhooks::EnvelopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    id: EventId,
    timestamp: Timestamp,
    // Boxed: an `Event` is as large as its largest payload (over 700 bytes), and a read moves
    // the envelope several times on its way out; a pointer moves for free.
    event: Box<Event>,
}

/// Why an envelope could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The body is not JSON (or is cut short).
    #[error("the body is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        /// What the JSON parser found.
        message: String,
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
    },
    /// The body is JSON but not an object.
    #[error("the body must be a JSON object with `id`, `type`, `timestamp` and `data`")]
    NotAnObject,
    /// The object is not a usable envelope, e.g. a field appears twice.
    #[error("the envelope is malformed: {message}")]
    Malformed {
        /// What is wrong.
        message: String,
    },
    /// A required envelope field is absent.
    #[error("the envelope has no `{0}` field")]
    MissingField(&'static str),
    /// An envelope field has the wrong JSON type or an unusable value.
    #[error("the envelope's `{field}` is invalid: {message}")]
    InvalidField {
        /// `id`, `type`, `timestamp` or `data`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The `type` is not a dotted event type.
    #[error("the envelope's `type` is invalid: {0}")]
    Type(#[source] EventTypeError),
    /// `data` does not have the shape of the type's payload.
    #[error("`{path}` does not fit a `{event_type}` payload: {message}")]
    Data {
        /// The event type whose payload was expected.
        event_type: String,
        /// The path to the offending field, e.g. `data.amount.currency`.
        path: String,
        /// What is wrong, e.g. `missing field `customer``.
        message: String,
    },
    /// The envelope could not be serialized (only with an out-of-range custom value).
    #[error("the envelope could not be serialized: {0}")]
    Serialize(String),
}

impl Envelope {
    /// Wraps an event that occurred just now (to the millisecond), with a fresh id.
    ///
    /// Reads the system clock and the OS CSPRNG; see [`Envelope::from_parts`] for full control.
    pub fn new(event: impl Into<Event>) -> Envelope {
        let now = Timestamp::now().truncated_to_millis();
        Envelope::from_parts(EventId::new(), now, event.into())
    }

    /// An envelope from its parts: `timestamp` is when the event occurred.
    pub fn from_parts(id: EventId, timestamp: Timestamp, event: Event) -> Envelope {
        Envelope {
            id,
            timestamp,
            event: Box::new(event),
        }
    }

    /// Replaces the id, e.g. with the platform's own.
    #[must_use]
    pub fn with_id(mut self, id: EventId) -> Envelope {
        self.id = id;
        self
    }

    /// Replaces the occurred-at time.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Envelope {
        self.timestamp = timestamp;
        self
    }

    /// The event id, stable across retries: the receivers' deduplication key.
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// When the event occurred.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The parts: id, occurred-at, event.
    pub fn into_parts(self) -> (EventId, Timestamp, Event) {
        (self.id, self.timestamp, *self.event)
    }

    /// Serializes to JSON bytes, once, to be shared by every delivery of the event.
    pub fn to_bytes(&self) -> Result<Bytes, EnvelopeError> {
        self.to_vec().map(Bytes::from)
    }

    /// Serializes to a JSON byte vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EnvelopeError> {
        serde_json::to_vec(self).map_err(|e| EnvelopeError::Serialize(e.to_string()))
    }

    /// Reads an envelope from JSON bytes.
    ///
    /// A catalogue type's `data` must fit its payload (the error names the field that does not);
    /// any other well-formed type is kept as [`Event::Unknown`] with its raw data.
    pub fn from_slice(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::read(bytes, false)
    }

    /// Reads an envelope from JSON bytes, keeping a catalogue event whose `data` does not fit
    /// its payload as [`Event::Untyped`] (the type, the raw data and the error) instead of
    /// refusing it. Everything else is checked as by [`Envelope::from_slice`]: unreadable
    /// JSON, a missing or malformed `id`, `type`, `timestamp` or `data` are still errors.
    ///
    /// ```
    /// use lms_webhooks::{Envelope, Event, EventType};
    ///
    /// let body = br#"{"id":"evt_1","type":"course.member.completed","timestamp":"2026-01-01T00:00:00Z",
    ///                 "data":{"user":{"email":"ada@example.com"},"course":{"id":7}}}"#;
    /// assert!(Envelope::from_slice(body).is_err());
    /// let envelope = Envelope::from_slice_lenient(body)?;
    /// let Event::Untyped(untyped) = envelope.event() else { panic!("untyped") };
    /// assert_eq!(untyped.event_type(), EventType::CourseMemberCompleted);
    /// assert_eq!(untyped.data()["user"]["email"], "ada@example.com");
    /// println!("kept as received: {}", untyped.error());
    /// # Ok::<(), lms_webhooks::EnvelopeError>(())
    /// ```
    pub fn from_slice_lenient(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::read(bytes, true)
    }

    fn read(bytes: &[u8], lenient: bool) -> Result<Envelope, EnvelopeError> {
        // serde would read a JSON array as a struct's fields in order; an envelope is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(EnvelopeError::NotAnObject);
        }
        if let Some(envelope) = read::one_pass(bytes) {
            return Ok(envelope);
        }
        // The careful way: `data` kept raw, then read with the path to what does not fit.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw = match RawEnvelope::deserialize(&mut de) {
            Ok(raw) => raw,
            Err(e) => return Err(envelope_error(bytes, e)),
        };
        de.end().map_err(|e| json_error(e, None))?;

        let id = raw.id.ok_or(EnvelopeError::MissingField("id"))?;
        let id = EventId::parse(&id).map_err(|e| EnvelopeError::InvalidField {
            field: "id",
            message: e.to_string(),
        })?;
        let type_str = raw.event_type.ok_or(EnvelopeError::MissingField("type"))?;
        let timestamp = raw
            .timestamp
            .ok_or(EnvelopeError::MissingField("timestamp"))?;
        let timestamp =
            Timestamp::parse_rfc3339(&timestamp).map_err(|e| EnvelopeError::InvalidField {
                field: "timestamp",
                message: e.to_string(),
            })?;
        let data = raw.data.ok_or(EnvelopeError::MissingField("data"))?;
        let event = match Event::from_type_and_data(&type_str, data) {
            Ok(event) => event,
            Err(DataError::Type(e)) => return Err(EnvelopeError::Type(e)),
            Err(DataError::Shape { path, message }) => {
                let error = EnvelopeError::Data {
                    event_type: type_str.to_string(),
                    path: if path == "." {
                        "data".to_owned()
                    } else {
                        format!("data.{path}")
                    },
                    message,
                };
                // Only a catalogue type reaches a shape error; its raw data is JSON already.
                match (lenient, type_str.parse::<EventType>()) {
                    (true, Ok(event_type)) => {
                        let value = serde_json::from_str(data.get())
                            .map_err(|e| json_error(e, Some("data")))?;
                        Event::Untyped(UntypedEvent::new(event_type, value, error))
                    }
                    _ => return Err(error),
                }
            }
        };
        Ok(Envelope {
            id,
            timestamp,
            event: Box::new(event),
        })
    }
}

/// The envelope as read, before any field is checked; borrowing keeps `data` unparsed.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    // `null` is a present (and wrong) `data`, not a missing one.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

/// Why `bytes` are not an envelope, with the envelope field that did not fit: the read again,
/// tracking the path (`error` is the plain read's, kept should the second read not fail).
fn envelope_error(bytes: &[u8], error: serde_json::Error) -> EnvelopeError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, RawEnvelope<'_>>(&mut de) {
        Ok(_) => json_error(error, None),
        Err(e) => {
            let field = match e.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => match key.as_str() {
                    "id" => Some("id"),
                    "type" => Some("type"),
                    "timestamp" => Some("timestamp"),
                    "data" => Some("data"),
                    _ => None,
                },
                _ => None,
            };
            json_error(e.into_inner(), field)
        }
    }
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

fn json_error(e: serde_json::Error, field: Option<&'static str>) -> EnvelopeError {
    use serde_json::error::Category;
    match (e.classify(), field) {
        (Category::Syntax | Category::Eof | Category::Io, _) => EnvelopeError::Syntax {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e),
        },
        (Category::Data, Some(field)) => EnvelopeError::InvalidField {
            field,
            message: strip_position(&e),
        },
        (Category::Data, None) if e.to_string().starts_with("invalid type") => {
            EnvelopeError::NotAnObject
        }
        (Category::Data, None) => EnvelopeError::Malformed {
            message: strip_position(&e),
        },
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Data<'a>(&'a Event);
        impl Serialize for Data<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize_data(serializer)
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("type", self.event.type_str())?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("data", &Data(&self.event))?;
        map.end()
    }
}
