//! Operational events: news about the webhooks themselves (an endpoint failing, failed,
//! disabled or recovered; a delivery that gave up), for a tenant's operations endpoint.
//!
//! They are not platform events: they stay out of [`EventType`](crate::EventType) and its
//! catalogue, and have their own [`OperationalType`] and [`OperationalEvent`]. An endpoint
//! receives them only when it subscribes to them by name (`operational.*`, or an exact type):
//! the `*` pattern means every platform event, not these (see
//! [`EventFilter`](crate::endpoint::EventFilter)). The PostgreSQL outbox's worker publishes
//! them, signed like any other delivery, in the transaction that records what they report.
//!
//! ```
//! use lms_webhooks::event::{EndpointHealthReport, OperationalEvent, OperationalType};
//! use lms_webhooks::Event;
//!
//! let report = EndpointHealthReport::builder()
//!     .endpoint_id("ep_crm")
//!     .status("failed")
//!     .consecutive_failures(5u32)
//!     .build()?;
//! let event = Event::from(OperationalEvent::EndpointFailed(report));
//! assert_eq!(event.type_str(), "operational.endpoint.failed");
//! assert_eq!(event.operational_type(), Some(OperationalType::EndpointFailed));
//! assert_eq!(event.event_type(), None); // not a catalogue type
//! # Ok::<(), lms_webhooks::BuildError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;

use super::error::EventTypeError;
use super::{DataError, Event};
use crate::text::clip;
use crate::Timestamp;

payload! {
    /// An endpoint's health, as the `operational.endpoint.*` events report it.
    pub struct EndpointHealthReport / EndpointHealthReportBuilder {
        required {
            /// The endpoint's id.
            endpoint_id: String,
            /// Its status now: `active`, `paused`, `disabled` or `failed`.
            status: String,
        }
        optional {
            /// Deliveries that gave up in a row (before a `recovered` event: none left).
            consecutive_failures: u32,
            /// Since when its attempts fail without a delivery between.
            failing_since: Timestamp,
            /// For `operational.endpoint.recovered`: how many deliveries in a row had given up
            /// before this one was delivered.
            after_failures: u32,
            /// For `operational.endpoint.disabled`: the HTTP status that disabled it (410).
            status_code: u16,
        }
        lists {}
    }
}

payload! {
    /// A delivery that gave up for good: its retry schedule ran out (the
    /// `operational.delivery.exhausted` event). The event itself is not repeated: look it up by
    /// its id in the delivery log, and resend it from there once the endpoint is fixed.
    pub struct DeliveryExhausted / DeliveryExhaustedBuilder {
        required {
            /// The endpoint's id.
            endpoint_id: String,
            /// The id of the event that was not delivered.
            event_id: String,
            /// Its type.
            event_type: String,
            /// Attempts made.
            attempts: u32,
        }
        optional {
            /// The last attempt's HTTP status, when the endpoint answered.
            last_status: u16,
            /// The last attempt's error, when it did not (`timeout`, a connection error).
            last_error: String,
        }
        lists {}
    }
}

macro_rules! operational {
    ( $( $(#[$vmeta:meta])* $variant:ident ( $payload:ty ) = $wire:literal; )+ ) => {
        /// Every operational event type, without its payload.
        ///
        /// ```
        /// use lms_webhooks::event::OperationalType;
        ///
        /// let t: OperationalType = "operational.delivery.exhausted".parse()?;
        /// assert_eq!(t, OperationalType::DeliveryExhausted);
        /// assert_eq!(OperationalType::ALL.len(), 5);
        /// # Ok::<(), lms_webhooks::EventTypeError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum OperationalType {
            $( $(#[$vmeta])* $variant, )+
        }

        impl OperationalType {
            /// Every operational type.
            pub const ALL: &'static [OperationalType] = &[ $( OperationalType::$variant, )+ ];

            /// The wire name, e.g. `"operational.endpoint.failed"`.
            pub const fn as_str(self) -> &'static str {
                match self { $( OperationalType::$variant => $wire, )+ }
            }
        }

        #[cfg(feature = "schema")]
        impl OperationalType {
            /// The JSON Schema of this type's payload, its definitions added to `generator`.
            pub(crate) fn data_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $( OperationalType::$variant => generator.subschema_for::<$payload>(), )+ }
            }
        }

        impl FromStr for OperationalType {
            type Err = EventTypeError;

            /// An operational type's wire name; any other well-formed type is
            /// [`EventTypeError::NotInCatalogue`].
            fn from_str(s: &str) -> Result<OperationalType, EventTypeError> {
                match s {
                    $( $wire => Ok(OperationalType::$variant), )+
                    other => {
                        super::check_dotted(other)?;
                        Err(EventTypeError::NotInCatalogue { found: clip(other, 128) })
                    }
                }
            }
        }

        /// An operational event with its typed payload; wrap it in an [`Event`] to send it.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum OperationalEvent {
            $( $(#[$vmeta])* $variant($payload), )+
        }

        impl OperationalEvent {
            /// Its type.
            pub const fn event_type(&self) -> OperationalType {
                match self { $( OperationalEvent::$variant(_) => OperationalType::$variant, )+ }
            }

            /// Serializes the payload alone, as the envelope's `data`.
            pub(crate) fn serialize_data<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::Serialize;
                match self { $( OperationalEvent::$variant(p) => p.serialize(s), )+ }
            }

            /// Reads the payload straight from the envelope's deserializer.
            pub(crate) fn deserialize_data<'de, D: serde::Deserializer<'de>>(
                t: OperationalType,
                d: D,
            ) -> Result<OperationalEvent, D::Error> {
                use serde::Deserialize;
                Ok(match t { $( OperationalType::$variant => OperationalEvent::$variant(Deserialize::deserialize(d)?), )+ })
            }

            /// Reads the payload from the envelope's raw `data`.
            pub(crate) fn from_data(t: OperationalType, data: &RawValue) -> Result<OperationalEvent, DataError> {
                Ok(match t { $( OperationalType::$variant => OperationalEvent::$variant(super::parse_data(data)?), )+ })
            }
        }
    };
}

operational! {
    /// An endpoint's deliveries keep failing: the first delivery of a run gave up after its
    /// whole schedule, and the endpoint is still active (it turns `Failed` if this goes on).
    EndpointFailing(EndpointHealthReport) = "operational.endpoint.failing";
    /// An endpoint turned `Failed` (repeated failures): its deliveries are held until it is
    /// re-enabled or a test ping gets through.
    EndpointFailed(EndpointHealthReport) = "operational.endpoint.failed";
    /// An endpoint was disabled by a 410 Gone answer.
    EndpointDisabled(EndpointHealthReport) = "operational.endpoint.disabled";
    /// An endpoint whose deliveries had given up delivered again.
    EndpointRecovered(EndpointHealthReport) = "operational.endpoint.recovered";
    /// A delivery gave up for good: its retry schedule ran out.
    DeliveryExhausted(DeliveryExhausted) = "operational.delivery.exhausted";
}

impl fmt::Display for OperationalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<OperationalEvent> for Event {
    fn from(event: OperationalEvent) -> Event {
        Event::Operational(event)
    }
}

/// The prefix every operational type starts with (`operational.`).
pub(crate) const PREFIX: &str = "operational.";

impl OperationalEvent {
    /// A sample of each type (what the schemas show as examples).
    pub fn sample(t: OperationalType) -> OperationalEvent {
        let since = Timestamp::from_unix(1_795_422_600).unwrap_or(Timestamp::UNIX_EPOCH);
        let report = |status: &str| EndpointHealthReport {
            endpoint_id: "ep_crm".to_owned(),
            status: status.to_owned(),
            consecutive_failures: None,
            failing_since: None,
            after_failures: None,
            status_code: None,
            extra: super::Extra::new(),
        };
        match t {
            OperationalType::EndpointFailing => {
                OperationalEvent::EndpointFailing(EndpointHealthReport {
                    consecutive_failures: Some(1),
                    failing_since: Some(since),
                    ..report("active")
                })
            }
            OperationalType::EndpointFailed => {
                OperationalEvent::EndpointFailed(EndpointHealthReport {
                    consecutive_failures: Some(5),
                    failing_since: Some(since),
                    ..report("failed")
                })
            }
            OperationalType::EndpointDisabled => {
                OperationalEvent::EndpointDisabled(EndpointHealthReport {
                    status_code: Some(410),
                    ..report("disabled")
                })
            }
            OperationalType::EndpointRecovered => {
                OperationalEvent::EndpointRecovered(EndpointHealthReport {
                    consecutive_failures: Some(0),
                    after_failures: Some(2),
                    ..report("active")
                })
            }
            OperationalType::DeliveryExhausted => {
                OperationalEvent::DeliveryExhausted(DeliveryExhausted {
                    endpoint_id: "ep_crm".to_owned(),
                    event_id: "evt_01JDX3V4S5Q8K9M2N7P6R5T4W3".to_owned(),
                    event_type: "sales.transaction.completed".to_owned(),
                    attempts: 8,
                    last_status: Some(503),
                    last_error: None,
                    extra: super::Extra::new(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Envelope, EventId};

    #[test]
    fn every_type_round_trips_through_an_envelope_both_ways() {
        for &t in OperationalType::ALL {
            assert_eq!(t.as_str().parse::<OperationalType>(), Ok(t));
            assert!(t.as_str().starts_with(PREFIX));
            let envelope = Envelope::from_parts(
                EventId::new(),
                Timestamp::from_unix(1_795_426_200).unwrap(),
                Event::from(OperationalEvent::sample(t)),
            );
            let bytes = envelope.to_vec().unwrap();
            // The one-pass read (type first) and the careful one (data first).
            let read = Envelope::from_slice(&bytes).unwrap();
            assert_eq!(read, envelope, "{t}");
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let data_first = format!(
                r#"{{"data":{},"id":{},"timestamp":{},"type":{}}}"#,
                value["data"], value["id"], value["timestamp"], value["type"]
            );
            assert_eq!(
                Envelope::from_slice(data_first.as_bytes()).unwrap(),
                envelope
            );
        }
    }

    #[test]
    fn a_payload_that_does_not_fit_names_the_field() {
        let body = br#"{"id":"evt_1","type":"operational.delivery.exhausted","timestamp":"2026-12-03T10:00:00Z","data":{"endpoint_id":"ep","event_id":"e","event_type":"a.b","attempts":"eight"}}"#;
        let e = Envelope::from_slice(body).unwrap_err().to_string();
        assert!(e.contains("data.attempts"), "{e}");
    }

    #[test]
    fn operational_types_are_not_custom_ones() {
        let e = Event::custom("operational.endpoint.failed", serde_json::json!({})).unwrap_err();
        assert!(matches!(e, EventTypeError::Reserved { .. }), "{e:?}");
        assert!("operational.other.thing"
            .parse::<OperationalType>()
            .is_err());
    }
}
