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
//!   default), receivers check with a [`Verifier`] before they trust a byte; with Standard
//!   Webhooks `v1a` the sender signs with an Ed25519 `whsk_` key and receivers hold only its
//!   `whpk_` public key ([`Secret::generate_ed25519`]);
//! - receivers read the platforms' own body shapes too (LearnWorlds, LearnInk: [`Profile`]),
//!   and other languages get every event's JSON Schema and an OpenAPI document (the `schema`
//!   feature);
//! - where a platform encrypts bodies (Learnybox), an `EncryptionKey` (the `encryption`
//!   feature) encrypts and authenticates them (AES-256-CBC, then HMAC-SHA256 checked before
//!   decryption).
//!
//! The crate is sans-IO: it opens no socket, never sleeps and reads the clock only in the few
//! conveniences that say so ([`Timestamp::now`], [`EventId::new`], [`Envelope::new`]); every
//! other time-dependent call takes the time as its first argument, as `quinn-proto` does.
//! Hosts bring the HTTP client (or use the `ureq` feature's [`transport`]), the runtime and the
//! storage.
//!
//! ```text
//!  sender (LMS backend)                              receiver (customer's app)
//!  Event ─▶ Envelope ─▶ fan_out ─▶ Delivery          http request (headers + raw body)
//!                                  │                        │
//!  Endpoint::target(now) ─▶ next_request(now, &target)      ▼
//!            (URL, secrets, status as they are now)   Receiver::receive: verify ─▶ decrypt ─▶ parse
//!                                  │                        │
//!                    host sends ───┘                        ▼
//!  record(now, outcome) ─▶ Done | RetryAt(t) | GaveUp   Deduplicator: claim ─▶ handler ─▶ commit | release
//! ```
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
//! # Signing and verifying
//!
//! A [`Scheme`] signs the raw body; a [`Verifier`] checks it before anything is parsed, in
//! constant time, with a timestamp tolerance against replays and several secrets at once while
//! one rotates. Standard Webhooks v1 is the default; body HMAC in hex (Learnomy, GitHub) and
//! LearnWorlds' pre-shared token are the others ([`signature`]).
//!
//! ```
//! use lms_webhooks::signature::Message;
//! use lms_webhooks::{Scheme, Secret, Timestamp, Verifier};
//!
//! let secret = Secret::generate_standard()?; // whsec_…, shown to the admin once
//! let now = Timestamp::from_unix(1_800_000_000)?;
//! let body = br#"{"id":"evt_1","type":"webhook.test","timestamp":"2027-01-15T08:00:00Z","data":{}}"#;
//! let headers = Scheme::standard().sign(&[secret.clone()], &Message::new("evt_1", now, body))?;
//! let verified = Verifier::new(Scheme::standard(), [secret]).verify(now, &headers, body)?;
//! assert_eq!(verified.id.as_deref(), Some("evt_1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Encrypted payloads
//!
//! Where a platform encrypts bodies (Learnybox: AES-256-CBC under the account's key), an
//! `EncryptionKey` encrypts then MACs, and checks the MAC before it decrypts anything (the
//! `encryption` module, with the `encryption` feature).
//!
//! ```
//! # #[cfg(feature = "encryption")] {
//! use lms_webhooks::EncryptionKey;
//!
//! let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a")?;
//! let body = key.encrypt(b"{}")?; // {"iv": …, "value": …, "mac": …}, a fresh IV each time
//! assert_eq!(key.decrypt(&body)?, b"{}");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Endpoints, deliveries and retries
//!
//! An [`Endpoint`] is what an admin registers: a URL checked by the SSRF guard
//! ([`UrlPolicy`]), subscriptions, a secret shown once, a status, rotation with a grace period.
//! [`endpoint::fan_out`] turns one event into a [`Delivery`] per subscribed endpoint. A delivery
//! holds no secret and no URL: each attempt is built from its endpoint **as it is now**
//! ([`Endpoint::target`]), so rotations, URL edits, pauses and disables reach deliveries already
//! queued. After each attempt, [`Next`] says whether it is done, when to retry
//! ([`RetrySchedule`]), or that it gave up; the host stores the delivery and schedules it in its
//! own job queue ([`delivery`] has the rules).
//!
//! ```
//! use lms_webhooks::delivery::{Next, Outcome};
//! use lms_webhooks::endpoint::{fan_out, Endpoint, Registry, UrlPolicy};
//! use lms_webhooks::{Envelope, Event, EventType, Timestamp};
//!
//! let now = Timestamp::from_unix(1_800_000_000)?;
//! let mut registry = Registry::new();
//! let (crm, _secret_shown_once) =
//!     Endpoint::create(now, "ep_crm", "https://crm.example.com/in", &UrlPolicy::new())?;
//! registry.add(crm)?;
//!
//! let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
//! let mut delivery = fan_out(now, &sale, registry.endpoints())?.deliveries.remove(0);
//! let request = registry.request(now, &mut delivery)?; // send it with any HTTP client
//! # let _ = request;
//! match registry.record(now, &mut delivery, Outcome::status(503))? {
//!     Next::RetryAt(at) => { /* store delivery.to_json(); run it again at `at` */ }
//!     Next::Done | Next::GaveUp(_) => { /* store the log */ }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Receiving
//!
//! A [`Receiver`] verifies, decrypts and parses a request for one platform [`Profile`] in one
//! call; a [`Deduplicator`](dedupe::Deduplicator) claims the event id while the handler runs,
//! and remembers it once the handler succeeded (commit) or forgets the claim when it failed
//! (release), so that a retry is handled again: at least once, and once per success. In axum,
//! [`WebhookReceiver::layer`](crate::axum::WebhookReceiver::layer) does all of it (feature
//! `axum`).
//!
//! ```
//! use std::time::Duration;
//! use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
//! use lms_webhooks::signature::Message;
//! use lms_webhooks::{Envelope, Event, EventType, Profile, Receiver, Secret, Timestamp};
//!
//! let secret = Secret::generate_standard()?;
//! let now = Timestamp::from_unix(1_800_000_000)?;
//! let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
//! let body = envelope.to_bytes()?;
//! let headers = Profile::standard()
//!     .scheme()
//!     .sign(&[secret.clone()], &Message::new(envelope.id().as_str(), now, &body))?;
//!
//! let receiver = Receiver::new(Profile::standard()).with_secret(secret);
//! let seen = MemoryDeduplicator::new(100_000, Duration::from_secs(86_400));
//! let got = receiver.receive(now, &headers, &body)?; // 401 / 400 / 413 on error
//! let lease = Duration::from_secs(60);
//! if let Claim::Claimed(token) = seen.claim(now, "standard", &got.id, lease) {
//!     // First time: handle it, then commit (or release if handling failed).
//!     seen.commit(now, "standard", &got.id, token);
//! }
//! assert_eq!(seen.claim(now, "standard", &got.id, lease), Claim::Done); // a retry: answer 200
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Profiles
//!
//! A [`Profile`] bundles one platform's body layout, event names, signature scheme,
//! encryption, retry schedule and success rule: [`Profile::standard`], [`Profile::learnybox`],
//! [`Profile::learnworlds`], [`Profile::learnink`], [`Profile::learnomy`]. Senders render with
//! it, receivers parse with it, and endpoints take it with [`Endpoint::with_profile`].
//!
//! ```
//! use lms_webhooks::{Envelope, Event, EventType, Profile, Timestamp};
//!
//! let lw = Profile::learnworlds("school_42");
//! let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
//! let body = lw.render(&envelope)?; // {"version":2,"type":"courseCompleted",…}
//! let back = lw.parse(Timestamp::now(), &body, Some(envelope.id().as_str()))?;
//! assert_eq!(back.event().type_str(), "course.member.completed");
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
//!
//! # Tracing
//!
//! With the `tracing` feature the crate reports to the host's
//! [`tracing`](https://docs.rs/tracing) subscriber (the facade only: the host picks the
//! subscriber): a `webhook attempt` event after each attempt that [`transport::attempt`],
//! [`transport::attempt_blocking`], a [`transport::Driver`] or [`transport::BlockingDriver`]
//! (and so `transport::dispatch`) runs, with `endpoint`, `event`, `attempt` (its number),
//! `status` or `error` (`timeout`, `connection`), `duration_ms` and `outcome` (`delivered`,
//! `retry`, `gave_up`), at debug when delivered, info when retried, warn when it gave up; and a
//! `webhook received` event after each request a [`Receiver`] takes, with `profile`, then
//! `event`, `event_type` and `secret_index` at debug, or the refusal's `reason` (`too_large`,
//! `misconfigured`, `signature`, `decrypt`, `payload`, `too_old`) and the HTTP `status` to
//! answer at info (warn when misconfigured). Never a secret, a key, a signature, a header value
//! or a body: a refusal's message, which may quote a header or a part of the body, is not
//! logged, only its kind. Without the feature the crate has no `tracing` dependency and these
//! calls compile to nothing.
//!
//! # Cargo features
//!
//! None is on by default: typed events, envelopes, signing and verifying (Standard Webhooks
//! `v1`, body HMAC, tokens), the delivery state machine, the URL policy and the receiver need
//! none.
//!
//! | feature | what it adds |
//! |---|---|
//! | `encryption` | the `encryption` module: `EncryptionKey` (AES-256-CBC, then HMAC-SHA256 checked before decryption, as Learnybox encrypts), `Endpoint::with_encryption`, `Target::with_encryption` and `Receiver::with_key`; without it a receiver for an encrypted profile answers `Misconfigured`, and an endpoint stored with a key is refused when read, naming the feature |
//! | `v1a` | Standard Webhooks `v1a`: Ed25519 `whsk_` keys that sign and `whpk_` keys that verify (`ed25519-dalek`); without it [`Secret::parse`] refuses them, naming the feature |
//! | `public-suffix` | [`UrlPolicy`] also refuses names outside the Public Suffix List (`router.lan`); turn it on wherever users type delivery URLs |
//! | `ureq` | `transport::UreqTransport`, a blocking sender that applies the URL policy where it connects |
//! | `reqwest` | `transport::ReqwestTransport`, the async one (with `tokio`) |
//! | `tokio` | `transport::dispatch` (a fan-out with bounded concurrency) and the async driver's sleep |
//! | `axum` | [`axum`]: the receiver's `Layer` and the `VerifiedWebhook` extractor |
//! | `tracing` | the events above |
//! | `schema` | [`schema`]: JSON Schemas and the OpenAPI document |

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod codec;
pub mod dedupe;
pub mod delivery;
#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
pub mod encryption;
pub mod endpoint;
pub mod envelope;
pub mod event;
mod memo;
mod outcome;
pub mod profile;
mod random;
pub mod receiver;
pub mod retry;
pub mod rules;
#[cfg(feature = "schema")]
#[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
pub mod schema;
pub mod secret;
pub mod signature;
mod status;
mod text;
mod timestamp;
mod trace;
pub mod transport;
mod url_policy;

pub use delivery::{Delivery, Next, Outcome, SuccessRule, Target};
#[cfg(feature = "encryption")]
pub use encryption::{DecryptError, EncryptError, EncryptionKey, KeyError};
pub use endpoint::{DeliveryUrl, Endpoint, EndpointStatus, Registry, UrlPolicy};
pub use envelope::{Envelope, EnvelopeError, EventId, EventIdError};
pub use event::{
    AffiliateEvent, BuildError, Category, CommunityEvent, CourseEvent, CrmEvent, Event, EventType,
    EventTypeError, NotificationEvent, OperationalEvent, OperationalType, RawEvent, SalesEvent,
    UntypedEvent, WebhookEvent, WebinarEvent,
};
pub use profile::Profile;
pub use random::RandomError;
pub use receiver::{Received, Receiver};
pub use retry::{RetryPolicy, RetrySchedule};
pub use secret::{Secret, SecretError, SecretForm};
pub use signature::{Scheme, SignError, Tolerance, Verified, Verifier, VerifyError};
pub use timestamp::{Timestamp, TimestampError};

/// The README's examples, compiled and run as doc tests so they cannot rot (with every
/// feature on, as the README's test command runs them: one shows the axum extractor).
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
