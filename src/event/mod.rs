//! Typed events: the catalogue of event types, one enum per category, and the payloads.
//!
//! An [`Event`] is what happened, without the envelope around it (id and occurred-at live in
//! [`Envelope`](crate::Envelope)). Catalogue events are typed all the way down:
//!
//! ```
//! use lms_webhooks::event::{Currency, Money, Person, Transaction};
//! use lms_webhooks::{Event, EventType, SalesEvent};
//!
//! let sale = Transaction::builder()
//!     .id("tr_1001")
//!     .amount(Money::new(4_990, Currency::EUR))
//!     .customer(Person::builder().email("ada@example.com").build()?)
//!     .build()?;
//! let event = Event::from(SalesEvent::TransactionCompleted(sale));
//! assert_eq!(event.event_type(), Some(EventType::SalesTransactionCompleted));
//! assert_eq!(event.type_str(), "sales.transaction.completed");
//! # Ok::<(), lms_webhooks::BuildError>(())
//! ```
//!
//! Types outside the catalogue have the same dotted shape and travel as raw JSON: a host builds
//! them with [`Event::custom`], and a receiver meets them as [`Event::Unknown`], never as an
//! error.

#[macro_use]
mod macros;

mod affiliate;
mod catalogue;
pub(crate) mod common;
mod community;
mod course;
mod crm;
mod error;
mod notification;
mod operational;
mod sales;
mod sample;
mod webinar;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

pub use affiliate::{Affiliate, AffiliateBuilder, Commission, CommissionBuilder};
pub use catalogue::{
    AffiliateEvent, Category, CommunityEvent, CourseEvent, CrmEvent, EventType, NotificationEvent,
    SalesEvent, WebhookEvent, WebinarEvent,
};
pub use common::{
    Course, CourseBuilder, Currency, Extra, MajorUnits, Money, NamedRef, NamedRefBuilder, Person,
    PersonBuilder, Product, ProductBuilder,
};
pub use community::{
    Comment, CommentBuilder, CommunityMembership, CommunityMembershipBuilder, Post, PostBuilder,
    PostLike, PostLikeBuilder,
};
pub use course::{
    Certificate, CertificateBuilder, Completion, CompletionBuilder, Enrollment, EnrollmentBuilder,
    EvaluationResult, EvaluationResultBuilder, ProgramCompletion, ProgramCompletionBuilder,
    QuizResult, QuizResultBuilder, SectionPreview, SectionPreviewBuilder,
};
pub use crm::{
    ContactChange, ContactChangeBuilder, Lead, LeadBuilder, ListMembership, ListMembershipBuilder,
    SequenceMembership, SequenceMembershipBuilder, TagChange, TagChangeBuilder, UserChange,
    UserChangeBuilder,
};
pub use error::{BuildError, EventTypeError};
pub use notification::{
    Notifications, NotificationsBuilder, PushNotification, PushNotificationBuilder, TestPing,
    TestPingBuilder,
};
pub(crate) use operational::PREFIX as OPERATIONAL_PREFIX;
pub use operational::{
    DeliveryExhausted, DeliveryExhaustedBuilder, EndpointHealthReport, EndpointHealthReportBuilder,
    OperationalEvent, OperationalType,
};
pub use sales::{
    BillingInterval, CreditNote, CreditNoteBuilder, Invoice, InvoiceBuilder, Payment,
    PaymentBuilder, Plan, PlanBuilder, Purchase, PurchaseBuilder, Subscription,
    SubscriptionBuilder, SubscriptionStatus, Transaction, TransactionBuilder, TransactionStatus,
};
pub use webinar::{
    FunnelEntry, FunnelEntryBuilder, Webinar, WebinarActivity, WebinarActivityBuilder,
    WebinarBuilder,
};

/// The longest event type string accepted, in bytes.
pub const MAX_TYPE_LEN: usize = 128;

/// Something that happened on a learning platform: a catalogue event with its typed payload, or
/// a custom or unknown event with raw JSON data.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `sales.*`
    Sales(SalesEvent),
    /// `crm.*`
    Crm(CrmEvent),
    /// `course.*`
    Course(CourseEvent),
    /// `webinar.*`
    Webinar(WebinarEvent),
    /// `community.*`
    Community(CommunityEvent),
    /// `affiliate.*`
    Affiliate(AffiliateEvent),
    /// `notifications.*`
    Notifications(NotificationEvent),
    /// `webhook.*`
    Webhook(WebhookEvent),
    /// `operational.*`: news about the webhooks themselves, outside the catalogue (see
    /// [`OperationalEvent`]).
    Operational(OperationalEvent),
    /// A host-defined type outside the catalogue, built with [`Event::custom`].
    Custom(RawEvent),
    /// A type a receiver does not know, kept with its raw `data`.
    Unknown(RawEvent),
    /// A catalogue type whose `data` does not fit its typed payload, kept as received with
    /// the typed-parse error: what a [`Receiver`](crate::Receiver) returns for an
    /// authenticated body of a known type in a shape this crate does not model, rather than
    /// refusing it (a refusal makes the platform retry, then give up: the event is lost).
    /// [`Envelope::from_slice`](crate::Envelope::from_slice) refuses such bodies;
    /// [`Envelope::from_slice_lenient`](crate::Envelope::from_slice_lenient) keeps them.
    Untyped(UntypedEvent),
}

/// A catalogue event whose `data` did not fit its typed payload: the type, the raw data, and
/// why it did not fit.
#[derive(Debug, Clone, PartialEq)]
pub struct UntypedEvent {
    event_type: EventType,
    data: Value,
    error: crate::EnvelopeError,
}

impl UntypedEvent {
    pub(crate) fn new(event_type: EventType, data: Value, error: crate::EnvelopeError) -> Self {
        UntypedEvent {
            event_type,
            data,
            error,
        }
    }

    /// The catalogue type.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// The `data` as it was sent.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Why the data did not fit the typed payload ([`EnvelopeError::Data`](crate::EnvelopeError::Data),
    /// naming the path inside `data`).
    pub fn error(&self) -> &crate::EnvelopeError {
        &self.error
    }

    /// The type and the data.
    pub fn into_parts(self) -> (EventType, Value) {
        (self.event_type, self.data)
    }
}

impl Event {
    /// A host-defined event outside the catalogue, e.g. `"lms.badge.earned"`.
    ///
    /// The type must have the catalogue's dotted shape and must not be a catalogue type.
    ///
    /// # Examples
    ///
    /// ```
    /// use lms_webhooks::Event;
    /// use serde_json::json;
    ///
    /// let e = Event::custom("lms.badge.earned", json!({"badge": "night-owl"}))?;
    /// assert_eq!(e.type_str(), "lms.badge.earned");
    /// assert!(Event::custom("BadgeEarned", json!({})).is_err());
    /// # Ok::<(), lms_webhooks::EventTypeError>(())
    /// ```
    pub fn custom(event_type: impl Into<String>, data: Value) -> Result<Event, EventTypeError> {
        RawEvent::new(event_type, data).map(Event::Custom)
    }

    /// The wire name of the type, for every kind of event.
    pub fn type_str(&self) -> &str {
        match self {
            Event::Custom(raw) | Event::Unknown(raw) => raw.event_type(),
            Event::Untyped(untyped) => untyped.event_type.as_str(),
            Event::Operational(event) => event.event_type().as_str(),
            typed => typed.event_type().map_or("", EventType::as_str),
        }
    }

    /// The catalogue category, or `None` for custom, unknown and operational events.
    pub fn category(&self) -> Option<Category> {
        self.event_type().map(EventType::category)
    }

    /// The operational type of an [`Event::Operational`], `None` for every other event.
    pub fn operational_type(&self) -> Option<OperationalType> {
        match self {
            Event::Operational(event) => Some(event.event_type()),
            _ => None,
        }
    }

    /// A type outside the catalogue (well-formed, checked by the caller) with its `data`.
    pub(crate) fn unknown(event_type: &str, data: Value) -> Event {
        Event::Unknown(RawEvent {
            event_type: event_type.to_owned(),
            data,
        })
    }

    /// Reads an event from its type string and raw `data`: a catalogue or operational type gets
    /// its typed payload, any other well-formed type becomes [`Event::Unknown`].
    pub(crate) fn from_type_and_data(type_str: &str, data: &RawValue) -> Result<Event, DataError> {
        match type_str.parse::<EventType>() {
            Ok(t) => Event::from_data(t, data),
            Err(EventTypeError::NotInCatalogue { .. }) => {
                if let Ok(t) = type_str.parse::<OperationalType>() {
                    return OperationalEvent::from_data(t, data).map(Event::Operational);
                }
                let value: Value = parse_data(data)?;
                Ok(Event::Unknown(RawEvent {
                    event_type: type_str.to_owned(),
                    data: value,
                }))
            }
            Err(e) => Err(DataError::Type(e)),
        }
    }
}

/// A custom or unknown event: its type string and its `data` as raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    event_type: String,
    data: Value,
}

impl RawEvent {
    /// Checks the type's dotted shape and that it is neither a catalogue type nor an
    /// operational one.
    pub fn new(event_type: impl Into<String>, data: Value) -> Result<RawEvent, EventTypeError> {
        let event_type = event_type.into();
        match event_type.parse::<EventType>() {
            Ok(_) => Err(EventTypeError::Reserved { found: event_type }),
            Err(EventTypeError::NotInCatalogue { .. })
                if event_type.parse::<OperationalType>().is_ok() =>
            {
                Err(EventTypeError::Reserved { found: event_type })
            }
            Err(EventTypeError::NotInCatalogue { .. }) => Ok(RawEvent { event_type, data }),
            Err(e) => Err(e),
        }
    }

    /// The type string.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The `data` as it was sent or given.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The type string and the data.
    pub fn into_parts(self) -> (String, Value) {
        (self.event_type, self.data)
    }
}

/// Checks the dotted shape: two or more non-empty segments of `[a-z0-9_]`, at most
/// [`MAX_TYPE_LEN`] bytes.
pub(crate) fn check_dotted(s: &str) -> Result<(), EventTypeError> {
    let malformed = |reason| {
        Err(EventTypeError::Malformed {
            found: crate::text::clip(s, MAX_TYPE_LEN),
            reason,
        })
    };
    if s.is_empty() {
        return malformed("it is empty");
    }
    if s.len() > MAX_TYPE_LEN {
        return malformed("it is longer than 128 bytes");
    }
    if !s.contains('.') {
        return malformed("it needs at least two dot-separated segments");
    }
    if s.split('.').any(str::is_empty) {
        return malformed("a segment is empty");
    }
    if !s
        .bytes()
        .all(|b| b == b'.' || b == b'_' || b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return malformed("only lower-case ASCII letters, digits, `_` and `.` are allowed");
    }
    Ok(())
}

/// Why an envelope's `data` could not be read.
#[derive(Debug)]
pub(crate) enum DataError {
    /// The type string is malformed.
    Type(EventTypeError),
    /// The data does not have the payload's shape; `path` is relative to `data`.
    Shape { path: String, message: String },
}

/// Deserializes a payload in one plain pass; when it does not fit, reads it again to name the
/// path to the first field that did not (the error path only pays for the path).
pub(crate) fn parse_data<T: DeserializeOwned>(data: &RawValue) -> Result<T, DataError> {
    let mut de = serde_json::Deserializer::from_str(data.get());
    match T::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(_) => Err(data_error::<T>(data)),
    }
}

/// Why `data` does not fit `T`, with the path to the field.
fn data_error<T: DeserializeOwned>(data: &RawValue) -> DataError {
    let mut de = serde_json::Deserializer::from_str(data.get());
    let Err(e) = serde_path_to_error::deserialize::<_, T>(&mut de) else {
        return DataError::Shape {
            path: ".".to_owned(),
            message: "the data does not fit its payload".to_owned(),
        };
    };
    let path = e.path().to_string();
    let message = e.inner().to_string();
    // serde_json appends a position inside `data` alone, which would mislead the reader.
    let message = match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => message,
    };
    DataError::Shape { path, message }
}
