//! The receiver toolkit: verify, decrypt and parse a webhook request in one call.
//!
//! ```
//! use lms_webhooks::receiver::Receiver;
//! use lms_webhooks::profile::Profile;
//! use lms_webhooks::signature::Message;
//! use lms_webhooks::{Envelope, Event, EventType, Secret, Timestamp};
//!
//! let secret = Secret::generate_standard()?;
//! let now = Timestamp::now();
//! // What a sender sends...
//! let envelope = Envelope::new(Event::sample(EventType::CourseMemberCompleted));
//! let body = envelope.to_bytes()?;
//! let headers = Profile::standard().scheme().sign(&[secret.clone()], &Message::new(envelope.id().as_str(), now, &body))?;
//!
//! // ...and what the receiver gets back.
//! let receiver = Receiver::new(Profile::standard()).with_secret(secret);
//! let received = receiver.receive(now, &headers, &body)?;
//! assert_eq!(received.event, *envelope.event());
//! assert_eq!(received.id, envelope.id().as_str());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Occurred-at and delivered-at
//!
//! Replay protection uses the signature timestamp (when the request was sent), never the
//! envelope's `timestamp` (when the event occurred): an event queued while a learner was
//! offline arrives days later and is still accepted, as long as the delivery itself is fresh.
//!
//! # Answer first, work later
//!
//! Answer 200 as soon as [`Receiver::receive`] succeeds and the event is recorded, and process
//! it afterwards; check [`Deduplicator`](crate::dedupe::Deduplicator) with the event id first,
//! because senders retry.

use std::time::Duration;

use http::{Request, StatusCode};

#[cfg(feature = "encryption")]
use crate::encryption::{DecryptError, EncryptionKey};
use crate::profile::Profile;
use crate::signature::{HeaderLookup, Tolerance, Verifier, VerifyError};
use crate::{EnvelopeError, Event, Secret, Timestamp};

/// What a receiver learned from a valid request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Received {
    /// The event id: the deduplication key.
    pub id: String,
    /// The event, typed; [`Event::Untyped`] with its raw data and the typed-parse error when
    /// its type is known but its data does not fit; [`Event::Unknown`] with its raw data when
    /// its type is not in the catalogue.
    pub event: Event,
    /// When the event occurred (the envelope's `timestamp`).
    pub occurred_at: Timestamp,
    /// When the request was signed and sent (the signature timestamp), if the scheme says.
    pub delivered_at: Option<Timestamp>,
    /// Which of the receiver's secrets matched, if a signature was checked.
    pub secret_index: Option<usize>,
}

/// Why a request was refused, and at which step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The body is larger than the receiver accepts.
    #[error("the body is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The receiver is not configured for this profile (no secret, or no key for an encrypted
    /// profile).
    #[error("the receiver is misconfigured: {0}")]
    Misconfigured(&'static str),
    /// The signature check failed.
    #[error("signature: {0}")]
    Signature(#[source] VerifyError),
    /// The encrypted body was refused.
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    #[error("decryption: {0}")]
    Decrypt(#[source] DecryptError),
    /// The (decrypted) body is not a valid envelope.
    #[error("payload: {0}")]
    Payload(#[source] EnvelopeError),
    /// An encrypted body with no signature to date it is older than the receiver accepts: a
    /// captured body replayed later (see [`Receiver::with_max_age`]).
    #[error("the envelope occurred {age_secs} s ago; at most {max_age_secs} s are accepted for an encrypted body without a signature (a replay?)")]
    TooOld {
        /// How long ago the envelope says the event occurred.
        age_secs: u64,
        /// The receiver's limit.
        max_age_secs: u64,
    },
}

impl ReceiveError {
    /// The HTTP status to answer: 401 for an unauthenticated request (a bad signature or MAC:
    /// the sender will retry, and fixing the secret fixes it), 413 for a body too large, 400
    /// for a malformed one, 500 for a receiver that is misconfigured.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ReceiveError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ReceiveError::Signature(
                VerifyError::NoSecret | VerifyError::SecretNotBase64 { .. },
            ) => StatusCode::INTERNAL_SERVER_ERROR,
            ReceiveError::Signature(_) | ReceiveError::TooOld { .. } => StatusCode::UNAUTHORIZED,
            #[cfg(feature = "encryption")]
            ReceiveError::Decrypt(DecryptError::MacMismatch) => StatusCode::UNAUTHORIZED,
            #[cfg(feature = "encryption")]
            ReceiveError::Decrypt(_) => StatusCode::BAD_REQUEST,
            ReceiveError::Payload(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Verifies, decrypts and parses requests for one profile. See the [module docs](self).
///
/// # Examples
///
/// A Learnybox receiver: the body is encrypted and carries its own MAC (the `encryption`
/// feature).
///
/// ```
/// # #[cfg(feature = "encryption")] {
/// use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Profile, Receiver, Timestamp};
///
/// let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a")?;
/// let envelope = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
/// let body = key.encrypt(&envelope.to_bytes()?)?; // what Learnybox POSTs
///
/// let receiver = Receiver::new(Profile::learnybox()).with_key(key);
/// let no_headers: Vec<(String, String)> = Vec::new();
/// let got = receiver.receive(Timestamp::now(), &no_headers, &body)?;
/// assert_eq!(got.event, *envelope.event());
///
/// // A body made with another key fails its MAC: 401, and nothing was decrypted.
/// let forged = EncryptionKey::parse("another-32-character-secret-key!")?.encrypt(b"{}")?;
/// let refused = receiver.receive(Timestamp::now(), &no_headers, &forged).unwrap_err();
/// assert_eq!(refused.http_status(), 401);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Receiver {
    profile: Profile,
    verifier: Verifier,
    #[cfg(feature = "encryption")]
    key: Option<EncryptionKey>,
    max_body_len: usize,
    strict: bool,
    max_age: Option<Duration>,
}

/// How old an encrypted, unsigned envelope may be by default: a day. Learnybox's whole retry
/// schedule spans 76 minutes (60 s, 5 min, 10 min, 1 h); the rest leaves room for the
/// platform's own queue.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The largest body a receiver reads unless told otherwise (and the most an encrypted body
/// decrypts to): 4 MiB.
pub(crate) const DEFAULT_MAX_BODY_LEN: usize = 4 * 1024 * 1024;

impl Receiver {
    /// A receiver for `profile`; add its secret(s) and, if it encrypts, its key.
    pub fn new(profile: Profile) -> Receiver {
        Receiver {
            verifier: Verifier::new(profile.scheme().clone(), []),
            profile,
            #[cfg(feature = "encryption")]
            key: None,
            max_body_len: DEFAULT_MAX_BODY_LEN,
            strict: false,
            max_age: Some(DEFAULT_MAX_AGE),
        }
    }

    /// Accepts signatures by `secret` (call again for each secret during a rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Receiver {
        self.verifier = self.verifier.with_secret(secret);
        self
    }

    /// Decrypts with `key` (encrypted profiles).
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    #[must_use]
    pub fn with_key(mut self, key: EncryptionKey) -> Receiver {
        self.key = Some(key);
        self
    }

    /// Sets the signature timestamp tolerance (default 5 minutes).
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Tolerance) -> Receiver {
        self.verifier = self.verifier.with_tolerance(tolerance);
        self
    }

    /// Refuses bodies over `max` bytes before any work (default 4 MiB).
    #[must_use]
    pub fn with_max_body_len(mut self, max: usize) -> Receiver {
        self.max_body_len = max;
        self
    }

    /// How old (by its `timestamp`) an encrypted body may be when no signature dates the
    /// request: a Learnybox body carries its own MAC but no time, so a body captured once
    /// would otherwise be accepted again a month later. [`DEFAULT_MAX_AGE`] (a day) unless
    /// set; `None` accepts any age. Bodies whose signature was verified are dated by it
    /// instead (require signatures with
    /// [`Profile::with_signature_required`](crate::Profile::with_signature_required)).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Receiver {
        self.max_age = max_age;
        self
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_len(&self) -> usize {
        self.max_body_len
    }

    /// Refuses (400) an authenticated body of a catalogue type whose `data` does not fit its
    /// typed payload, instead of returning it as [`Event::Untyped`]. Off by default: such a
    /// body is genuine (its signature or MAC verified), and refusing it makes the platform
    /// retry and then give up, so the event is lost; turn it on only where a payload the crate
    /// cannot type must be rejected.
    #[must_use]
    pub fn with_strict_payloads(mut self, strict: bool) -> Receiver {
        self.strict = strict;
        self
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The signature check: the profile's scheme, the accepted secrets, the tolerance.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// What can be refused from the headers alone, before the body is read: a profile that
    /// requires signatures refuses a request without its scheme's headers (401), and a
    /// receiver with no secret for it is misconfigured (500). The axum layer and extractor
    /// call it first, so that unsigned junk costs no body read.
    pub fn check_headers<H: HeaderLookup + ?Sized>(&self, headers: &H) -> Result<(), ReceiveError> {
        if !self.profile.requires_signature() {
            return Ok(());
        }
        if self.verifier.secrets().is_empty() {
            return Err(ReceiveError::Misconfigured(
                "no secret to verify signatures with",
            ));
        }
        self.profile
            .scheme()
            .check_headers(headers)
            .map_err(ReceiveError::Signature)
    }

    /// Verifies, decrypts and parses one request: headers from any [`HeaderLookup`] and the
    /// RAW body, at the receiver's time `now`.
    pub fn receive<H: HeaderLookup + ?Sized>(
        &self,
        now: Timestamp,
        headers: &H,
        body: &[u8],
    ) -> Result<Received, ReceiveError> {
        let result = self.take(now, headers, body);
        crate::trace::received(self.profile.name(), &result);
        result
    }

    /// [`Receiver::receive`], untraced.
    fn take<H: HeaderLookup + ?Sized>(
        &self,
        now: Timestamp,
        headers: &H,
        body: &[u8],
    ) -> Result<Received, ReceiveError> {
        if body.len() > self.max_body_len {
            return Err(ReceiveError::TooLarge {
                len: body.len(),
                max: self.max_body_len,
            });
        }
        let verified = if self.profile.requires_signature() {
            if self.verifier.secrets().is_empty() {
                return Err(ReceiveError::Misconfigured(
                    "no secret to verify signatures with",
                ));
            }
            Some(
                self.verifier
                    .verify(now, headers, body)
                    .map_err(ReceiveError::Signature)?,
            )
        } else {
            None
        };
        #[cfg(feature = "encryption")]
        let plaintext;
        let payload = if self.profile.encrypted() {
            #[cfg(feature = "encryption")]
            {
                let key = self.key.as_ref().ok_or(ReceiveError::Misconfigured(
                    "an encrypted profile needs a key",
                ))?;
                plaintext = key
                    .decrypt_limited(body, self.max_body_len)
                    .map_err(ReceiveError::Decrypt)?;
                plaintext.as_slice()
            }
            #[cfg(not(feature = "encryption"))]
            return Err(ReceiveError::Misconfigured(
                "an encrypted profile needs lms-webhooks' `encryption` feature",
            ));
        } else {
            body
        };
        let signed_id = verified.as_ref().and_then(|v| v.id.as_deref());
        // Authenticated: only unreadable JSON, a missing type or a malformed envelope field
        // refuse it; a known type in an unexpected shape comes back as `Event::Untyped`.
        let envelope = match self.strict {
            true => self.profile.parse(now, payload, signed_id),
            false => self.profile.parse_lenient(now, payload, signed_id),
        }
        .map_err(ReceiveError::Payload)?;
        let (id, occurred_at, event) = envelope.into_parts();
        if let (true, None, Some(max_age)) = (self.profile.encrypted(), &verified, self.max_age) {
            let age = now.duration_since(occurred_at).unwrap_or_default();
            if age > max_age {
                return Err(ReceiveError::TooOld {
                    age_secs: age.as_secs(),
                    max_age_secs: max_age.as_secs(),
                });
            }
        }
        Ok(Received {
            id: id.to_string(),
            event,
            occurred_at,
            delivered_at: verified.as_ref().and_then(|v| v.timestamp),
            secret_index: verified.map(|v| v.secret_index),
        })
    }

    /// [`Receiver::receive`] for an [`http::Request`](https://docs.rs/http/1/http/request/struct.Request.html) holding the raw body.
    pub fn receive_request<B: AsRef<[u8]>>(
        &self,
        now: Timestamp,
        request: &Request<B>,
    ) -> Result<Received, ReceiveError> {
        self.receive(now, request.headers(), request.body().as_ref())
    }
}
