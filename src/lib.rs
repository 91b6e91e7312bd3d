//! Outgoing webhooks for learning platforms, and the tools to receive them.
//!
//! Learning platforms (LMS backends) notify CRMs, automation tools and custom backends by
//! POSTing JSON when something happens: a sale, a refund, a course completed, a quiz passed, a
//! webinar joined, a push notification to forward. `lms-webhooks` gives both sides of that wire
//! the same vocabulary:
//!
//! - **senders** build a typed [`Event`], wrap it in an [`Envelope`] (id, type, occurred-at,
//!   data) and serialize it once;
//! - **receivers** parse the raw body back into the same typed `Event`, or into
//!   [`Event::Unknown`] when the type is one they do not know;
//! - both ends share a [`Secret`]: senders sign with a [`Scheme`] (Standard Webhooks v1 by
//!   default), receivers check with a [`Verifier`] before they trust a byte;
//! - where a platform encrypts bodies (Learnybox), an [`EncryptionKey`] encrypts and
//!   authenticates them (AES-256-CBC, then HMAC-SHA256 checked before decryption).
//!
//! The crate is sans-IO: it opens no socket, never sleeps and reads the clock only in the few
//! conveniences that say so ([`Timestamp::now`], [`EventId::new`], [`Envelope::new`]); every
//! other time-dependent call takes the time as an argument.
//!
//! # Sending and receiving an event
//!
//! ```
//! use lms_webhooks::event::{Course, Person, QuizResult, NamedRef};
//! use lms_webhooks::{CourseEvent, Envelope, Event, EventId, EventType, Timestamp};
//!
//! // Sender: what happened, to whom, when.
//! let result = QuizResult::builder()
//!     .member(Person::builder().id("usr_42").email("ada@example.com").build()?)
//!     .quiz(NamedRef::builder().id("qz_1").name("Ownership").build()?)
//!     .course(Course::builder().id("crs_101").build()?)
//!     .score(16u32)
//!     .max_score(20u32)
//!     .pass_mark(14u32)
//!     .passed(true)
//!     .build()?;
//! let occurred = Timestamp::from_unix(1_795_420_800)?;
//! let envelope = Envelope::from_parts(
//!     EventId::new(),
//!     occurred,
//!     CourseEvent::QuizPassed(result).into(),
//! );
//! let body = envelope.to_bytes()?; // serialized once, shared by every delivery
//!
//! // Receiver: the raw body back into the typed event.
//! let received = Envelope::from_slice(&body)?;
//! assert_eq!(received.id(), envelope.id()); // the deduplication key
//! assert_eq!(received.timestamp(), occurred);
//! match received.event() {
//!     Event::Course(CourseEvent::QuizPassed(q)) => assert_eq!(q.score, 16),
//!     other => panic!("unexpected {}", other.type_str()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The catalogue
//!
//! [`EventType`] lists the 56 catalogue types by their exact wire names
//! (`<category>.<object>.<action>`), grouped by [`Category`]: `sales`, `crm`, `course`,
//! `webinar`, `community`, `affiliate`, `notifications` and `webhook`. Each category has an
//! enum ([`SalesEvent`], [`CrmEvent`], [`CourseEvent`], [`WebinarEvent`], [`CommunityEvent`],
//! [`AffiliateEvent`], [`NotificationEvent`], [`WebhookEvent`]) whose variants carry the payload
//! types of the [`event`] module. Payloads:
//!
//! - count money in minor units with an ISO 4217 currency ([`event::Money`]), never in floats;
//! - skip absent optional fields in JSON;
//! - keep every field they do not model in `extra`, so nothing a platform sends is lost;
//! - are built with by-value builders whose `build()` returns a [`BuildError`] naming the
//!   missing field instead of panicking.
//!
//! Hosts may send their own types of the same dotted shape with [`Event::custom`].
//!
//! # Errors
//!
//! Every parser returns a typed error that says what was wrong: [`EnvelopeError`] names the
//! envelope field or the path inside `data` that did not fit, [`EventTypeError`] explains a
//! malformed type string, [`TimestampError`] and [`EventIdError`] reject unusable values. No
//! input makes this crate panic.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
pub mod dedupe;
pub mod delivery;
pub mod encryption;
pub mod endpoint;
pub mod envelope;
pub mod event;
mod memo;
pub mod profile;
mod random;
pub mod receiver;
pub mod retry;
pub mod rules;
pub mod secret;
pub mod signature;
mod text;
mod timestamp;
pub mod transport;

pub use delivery::{Delivery, Next, Outcome, SuccessRule, Target};
pub use encryption::{DecryptError, EncryptError, EncryptionKey, KeyError};
pub use endpoint::{DeliveryUrl, Endpoint, EndpointStatus, Registry, UrlPolicy};
pub use envelope::{Envelope, EnvelopeError, EventId, EventIdError};
pub use event::{
    AffiliateEvent, BuildError, Category, CommunityEvent, CourseEvent, CrmEvent, Event, EventType,
    EventTypeError, NotificationEvent, RawEvent, SalesEvent, WebhookEvent, WebinarEvent,
};
pub use profile::Profile;
pub use random::RandomError;
pub use receiver::{Received, Receiver};
pub use retry::{RetryPolicy, RetrySchedule};
pub use secret::{Secret, SecretError};
pub use signature::{Scheme, SignError, Tolerance, Verified, Verifier, VerifyError};
pub use timestamp::{Timestamp, TimestampError};

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
