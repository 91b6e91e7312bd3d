//! Reading an envelope in one pass over the body: `data` is read straight into its typed
//! payload when `type` comes before it (as every envelope this crate writes has it). Anything
//! else, and every error, goes the careful way (`Envelope::read`): `data` kept raw, then read
//! with the path to the field that does not fit, and the lenient mode's untyped events.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{Envelope, EventId};
use crate::event::{EventTypeError, OperationalEvent, OperationalType};
use crate::{Event, EventType, Timestamp};

/// The envelope, if one pass reads all of it; `None` sends the caller the careful way.
pub(super) fn one_pass(bytes: &[u8]) -> Option<Envelope> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let fields = Fields::deserialize(&mut de).ok()?;
    de.end().ok()?;
    let id = EventId::parse(&fields.id?).ok()?;
    let timestamp = Timestamp::parse_rfc3339(&fields.timestamp?).ok()?;
    let event = match fields.data? {
        Data::Read(event) => event,
        Data::Raw(raw) => Box::new(Event::from_type_and_data(&fields.event_type?, raw).ok()?),
    };
    Some(Envelope {
        id,
        timestamp,
        event,
    })
}

/// A string, borrowed from the body unless it has escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// `data`, read into its event (boxed where it is read, as the envelope keeps it), or kept raw
/// when `type` had not come yet.
enum Data<'a> {
    Read(Box<Event>),
    Raw(&'a RawValue),
}

/// The envelope's fields as they came.
struct Fields<'a> {
    id: Option<Cow<'a, str>>,
    event_type: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    data: Option<Data<'a>>,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an envelope object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields {
            id: None,
            event_type: None,
            timestamp: None,
            data: None,
        };
        fn once<T, E: de::Error>(slot: &Option<T>, name: &'static str) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "id" => {
                    once(&fields.id, "id")?;
                    fields.id = Some(map.next_value::<Text<'de>>()?.0);
                }
                "type" => {
                    once(&fields.event_type, "type")?;
                    fields.event_type = Some(map.next_value::<Text<'de>>()?.0);
                }
                "timestamp" => {
                    once(&fields.timestamp, "timestamp")?;
                    fields.timestamp = Some(map.next_value::<Text<'de>>()?.0);
                }
                "data" => {
                    once(&fields.data, "data")?;
                    let known = fields
                        .event_type
                        .as_deref()
                        .map(|t| (t, t.parse::<EventType>()));
                    fields.data = Some(match known {
                        Some((_, Ok(t))) => Data::Read(Box::new(map.next_value_seed(Typed(t))?)),
                        Some((t, Err(EventTypeError::NotInCatalogue { .. }))) => {
                            match t.parse::<OperationalType>() {
                                Ok(t) => Data::Read(Box::new(map.next_value_seed(Operational(t))?)),
                                Err(_) => Data::Read(Box::new(Event::unknown(
                                    t,
                                    map.next_value::<Value>()?,
                                ))),
                            }
                        }
                        _ => Data::Raw(map.next_value::<&'de RawValue>()?),
                    });
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// Reads `data` as the payload of a catalogue type.
struct Typed(EventType);

impl<'de> DeserializeSeed<'de> for Typed {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Event, D::Error> {
        Event::deserialize_data(self.0, deserializer)
    }
}

/// Reads `data` as the payload of an operational type.
struct Operational(OperationalType);

impl<'de> DeserializeSeed<'de> for Operational {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Event, D::Error> {
        OperationalEvent::deserialize_data(self.0, deserializer).map(Event::Operational)
    }
}
