//! The sans-IO delivery state machine: what request to send, and after each attempt, whether
//! the delivery is done, when to try again, or that it failed for good.
//!
//! ```text
//!            next_request(now)             record(now, outcome)
//!  Pending ─────────────────────▶ InFlight ─────────────────────▶ Done
//!     ▲                                        │                  GaveUp(reason)
//!     └──────────── RetryAt(t) ◀───────────────┘
//! ```
//!
//! A [`Delivery`] is plain data with serde: store it in a database row after each step and
//! resume it anywhere. It never sleeps, never sends and never reads the clock: the host sends
//! the [`http::Request`] with its own client (or a [`Transport`](crate::transport::Transport)),
//! and schedules the next attempt at the time [`Next::RetryAt`] names, in its own job queue.
//! Every delivery ends in [`Next::Done`] or [`Next::GaveUp`], with its attempt log.
//!
//! The serialized form contains the endpoint's secrets and encryption key: store it as you
//! store secrets.
//!
//! # Examples
//!
//! ```
//! use lms_webhooks::delivery::{Delivery, Next, Target};
//! use lms_webhooks::retry::{Outcome, RetrySchedule};
//! use lms_webhooks::{Envelope, Event, EventType, Secret, Timestamp};
//!
//! let envelope = Envelope::new(Event::sample(EventType::WebhookTest));
//! let target = Target::new("https://crm.example.com/hooks")?
//!     .secret(Secret::generate_standard()?)
//!     .retry(RetrySchedule::learnybox());
//! let t0 = Timestamp::from_unix(1_700_000_000)?;
//! let mut delivery = Delivery::new(envelope.id().as_str(), envelope.to_bytes()?, target, t0);
//!
//! let request = delivery.next_request(t0)?;       // POST, signed; the host sends it
//! assert_eq!(request.method(), "POST");
//! let next = delivery.record(t0, Outcome::status(503))?;
//! assert_eq!(next, Next::RetryAt(Timestamp::from_unix(1_700_000_060)?));
//!
//! let t1 = Timestamp::from_unix(1_700_000_060)?;
//! delivery.next_request(t1)?;
//! assert_eq!(delivery.record(t1, Outcome::status(200))?, Next::Done);
//! assert_eq!(delivery.attempts().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::{Method, Request, Uri};
use serde::{Deserialize, Serialize};

use crate::encryption::{EncryptError, EncryptionKey};
use crate::event::clip;
use crate::memo::Memo;
use crate::retry::{
    parse_retry_after, Outcome, RetryContext, RetryDecision, RetryPolicy, RetrySchedule,
    SuccessRule,
};
use crate::signature::{Message, SignError};
use crate::{Scheme, Secret, Timestamp};

/// The `user-agent` of every request.
pub const USER_AGENT: &str = concat!("lms-webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest `Retry-After` honoured by default: one hour.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where and how to deliver: the endpoint snapshot a delivery carries.
///
/// Deliveries share it behind an [`Arc`]: a fan-out to many events of one endpoint holds one
/// copy, and the URL is parsed once for all their requests.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Target {
    url: String,
    #[serde(skip)]
    uri: Memo<Uri>,
    /// The signature scheme.
    pub scheme: Scheme,
    /// The secrets to sign with (several during a rotation).
    pub secrets: Vec<Secret>,
    /// Encrypt the body first (Learnybox), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionKey>,
    /// When to retry.
    pub retry: RetrySchedule,
    /// Which responses count as delivered.
    #[serde(default)]
    pub success: SuccessRule,
    /// The longest `Retry-After` honoured (longer ones are cut to it).
    #[serde(default = "default_max_retry_after", with = "duration_secs")]
    pub max_retry_after: Duration,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets)
            .field("encryption", &self.encryption)
            .field("retry", &self.retry)
            .field("success", &self.success)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

fn default_max_retry_after() -> Duration {
    DEFAULT_MAX_RETRY_AFTER
}

/// `Duration` as whole seconds in serde, for delivery and endpoint settings.
pub(crate) mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

impl Target {
    /// A target at `url` (an absolute `http` or `https` URL), signing with Standard Webhooks,
    /// retrying on the Standard Webhooks schedule, any 2xx counting as delivered.
    ///
    /// This checks the URL's shape only, not the SSRF rules a platform must also apply to the
    /// addresses it delivers to.
    pub fn new(url: &str) -> Result<Target, DeliveryError> {
        let uri: Uri = url.parse().map_err(|_| DeliveryError::InvalidUrl {
            url: clip(url, 200),
            reason: "not a valid absolute URL",
        })?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => {
                return Err(DeliveryError::InvalidUrl {
                    url: clip(url, 200),
                    reason: "the scheme must be http or https",
                })
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(DeliveryError::InvalidUrl {
                url: clip(url, 200),
                reason: "the URL has no host",
            });
        }
        Ok(Target::unchecked(url.to_owned()))
    }

    /// A target whose URL was already checked (by an endpoint's URL policy).
    pub(crate) fn unchecked(url: String) -> Target {
        Target {
            url,
            uri: Memo::default(),
            scheme: Scheme::standard(),
            secrets: Vec::new(),
            encryption: None,
            retry: RetrySchedule::standard_webhooks(),
            success: SuccessRule::Any2xx,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// The delivery URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL parsed, once per target.
    fn uri(&self) -> Result<Uri, DeliveryError> {
        if let Some(uri) = self.uri.get(|_| true) {
            return Ok(uri);
        }
        let uri: Uri = self.url.parse().map_err(|_| DeliveryError::InvalidUrl {
            url: clip(&self.url, 200),
            reason: "not a valid absolute URL",
        })?;
        self.uri.set(uri.clone());
        Ok(uri)
    }

    /// Sets the signature scheme.
    #[must_use]
    pub fn scheme(mut self, scheme: impl Into<Scheme>) -> Target {
        self.scheme = scheme.into();
        self
    }

    /// Adds a signing secret (the first added signs alone for body HMAC and token schemes).
    #[must_use]
    pub fn secret(mut self, secret: Secret) -> Target {
        self.secrets.push(secret);
        self
    }

    /// Encrypts bodies with `key` before signing.
    #[must_use]
    pub fn encryption(mut self, key: EncryptionKey) -> Target {
        self.encryption = Some(key);
        self
    }

    /// Sets the retry schedule.
    #[must_use]
    pub fn retry(mut self, schedule: RetrySchedule) -> Target {
        self.retry = schedule;
        self
    }

    /// Sets the success rule.
    #[must_use]
    pub fn success(mut self, rule: SuccessRule) -> Target {
        self.success = rule;
        self
    }

    /// Sets the longest `Retry-After` honoured.
    #[must_use]
    pub fn max_retry_after(mut self, max: Duration) -> Target {
        self.max_retry_after = max;
        self
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "next", content = "at", rename_all = "snake_case")]
#[must_use]
pub enum Next {
    /// Delivered.
    Done,
    /// Try again at this time: persist the delivery and schedule it.
    RetryAt(Timestamp),
    /// Failed for good; the delivery log says why.
    GaveUp(GiveUpReason),
}

/// Why a delivery gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The retry schedule ran out. Counts toward the endpoint's automatic `Failed` status.
    Exhausted,
    /// The endpoint answered 410 Gone: it asks not to be called again; disable it.
    Gone,
}

impl GiveUpReason {
    /// Whether the endpoint should be disabled right away (410 Gone).
    pub fn disables_endpoint(self) -> bool {
        matches!(self, GiveUpReason::Gone)
    }
}

/// One attempt in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When the request was built.
    pub started_at: Timestamp,
    /// How long until the outcome was recorded, in milliseconds.
    pub duration_ms: u64,
    /// What happened.
    pub outcome: Outcome,
    /// What was decided.
    pub next: Next,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// Waiting for its next attempt, due at `due`.
    Pending {
        /// When the next attempt is due.
        due: Timestamp,
    },
    /// A request was built and its outcome not yet recorded.
    InFlight {
        /// The attempt's number.
        attempt: u32,
        /// When it started.
        started_at: Timestamp,
    },
    /// Delivered.
    Done,
    /// Failed for good.
    GaveUp {
        /// Why.
        reason: GiveUpReason,
    },
}

/// A misuse of the state machine, or a request that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The delivery URL is unusable.
    #[error("`{url}` cannot be a delivery URL: {reason}")]
    InvalidUrl {
        /// The URL (cut to 200 characters).
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// `next_request` was called while an attempt is in flight: record its outcome first.
    #[error("attempt {attempt} is in flight: record its outcome before building another request")]
    InFlight {
        /// The attempt in flight.
        attempt: u32,
    },
    /// `record` was called with no attempt in flight (recorded twice, or never sent).
    #[error("no attempt is in flight: call next_request first")]
    NotInFlight,
    /// The delivery is over (done or given up).
    #[error("the delivery is already finished ({0:?})")]
    Finished(State),
    /// The body could not be encrypted.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// One event on its way to one endpoint. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    event_id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint_id: Option<Arc<str>>,
    #[serde(with = "body_base64")]
    body: Bytes,
    target: Arc<Target>,
    created_at: Timestamp,
    state: State,
    attempts: Vec<Attempt>,
    /// Seeds the jitter, so that retries are reproducible yet differ between deliveries.
    seed: u64,
}

mod body_base64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// SplitMix64: a tiny, well-mixed generator for jitter; not for secrets.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Delivery {
    /// A delivery of `body` (the envelope bytes, shared, not copied) for event `event_id` to
    /// `target`, due at `now`. The id, body and target may be shared by many deliveries
    /// (pass an `Arc<str>`, [`Bytes`] and `Arc<Target>`): nothing is copied.
    pub fn new(
        event_id: impl Into<Arc<str>>,
        body: impl Into<Bytes>,
        target: impl Into<Arc<Target>>,
        now: Timestamp,
    ) -> Delivery {
        let event_id = event_id.into();
        let target = target.into();
        let seed = event_id
            .bytes()
            .chain(target.url.bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Delivery {
            event_id,
            endpoint_id: None,
            body: body.into(),
            target,
            created_at: now,
            state: State::Pending { due: now },
            attempts: Vec::new(),
            seed,
        }
    }

    /// Builds the next attempt's request: POST, JSON, signed at `now` (a fresh signature
    /// timestamp each attempt, the same event id), encrypted first if the target says so.
    ///
    /// The host should call it at or after [`Delivery::next_due`]; the delivery is then in
    /// flight until [`Delivery::record`].
    pub fn next_request(&mut self, now: Timestamp) -> Result<Request<Bytes>, DeliveryError> {
        match self.state {
            State::Pending { .. } => {}
            State::InFlight { attempt, .. } => return Err(DeliveryError::InFlight { attempt }),
            finished => return Err(DeliveryError::Finished(finished)),
        }
        let body = match &self.target.encryption {
            Some(key) => Bytes::from(key.encrypt(&self.body)?),
            None => self.body.clone(),
        };
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        self.target.scheme.sign_into(
            &self.target.secrets,
            &Message::new(&self.event_id, now, &body),
            &mut headers,
        )?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.target.uri()?;
        *request.headers_mut() = headers;
        self.state = State::InFlight {
            attempt: self.attempt_count() + 1,
            started_at: now,
        };
        Ok(request)
    }

    /// Records the outcome of the attempt in flight, with the target's retry schedule.
    pub fn record(&mut self, now: Timestamp, outcome: Outcome) -> Result<Next, DeliveryError> {
        let (attempt, started_at) = self.in_flight()?;
        let next = self.decide(attempt, now, &outcome, &self.target.retry);
        Ok(self.apply(attempt, started_at, now, outcome, next))
    }

    /// Records the outcome with a custom retry policy instead of the target's schedule.
    pub fn record_with(
        &mut self,
        now: Timestamp,
        outcome: Outcome,
        policy: &(impl RetryPolicy + ?Sized),
    ) -> Result<Next, DeliveryError> {
        let (attempt, started_at) = self.in_flight()?;
        let next = self.decide(attempt, now, &outcome, policy);
        Ok(self.apply(attempt, started_at, now, outcome, next))
    }

    fn in_flight(&self) -> Result<(u32, Timestamp), DeliveryError> {
        match self.state {
            State::InFlight {
                attempt,
                started_at,
            } => Ok((attempt, started_at)),
            State::Pending { .. } => Err(DeliveryError::NotInFlight),
            finished => Err(DeliveryError::Finished(finished)),
        }
    }

    fn apply(
        &mut self,
        attempt: u32,
        started_at: Timestamp,
        now: Timestamp,
        outcome: Outcome,
        next: Next,
    ) -> Next {
        self.state = match next {
            Next::Done => State::Done,
            Next::RetryAt(due) => State::Pending { due },
            Next::GaveUp(reason) => State::GaveUp { reason },
        };
        let duration_ms = now
            .duration_since(started_at)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.attempts.push(Attempt {
            number: attempt,
            started_at,
            duration_ms,
            outcome,
            next,
        });
        next
    }

    fn decide(
        &self,
        attempt: u32,
        now: Timestamp,
        outcome: &Outcome,
        policy: &(impl RetryPolicy + ?Sized),
    ) -> Next {
        let (status, retry_after) = match outcome {
            Outcome::Response {
                status,
                retry_after,
                ..
            } => (Some(*status), retry_after.as_deref()),
            _ => (None, None),
        };
        match status {
            Some(s) if self.target.success.is_success(s) => return Next::Done,
            Some(410) => return Next::GaveUp(GiveUpReason::Gone),
            _ => {}
        }
        let first = self.attempts.first().map_or(now, |a| a.started_at);
        let random = splitmix(self.seed ^ u64::from(attempt));
        let ctx = RetryContext::new(attempt, first, now, outcome, random);
        match policy.decide(&ctx) {
            RetryDecision::GiveUp => Next::GaveUp(GiveUpReason::Exhausted),
            RetryDecision::RetryAt(at) => {
                // 429 and 503 may ask for more time; never less than the schedule, and never
                // more than the target allows.
                let asked = match (status, retry_after) {
                    (Some(429 | 503), Some(value)) => parse_retry_after(value, now)
                        .map(|wait| now.saturating_add(wait.min(self.target.max_retry_after))),
                    _ => None,
                };
                Next::RetryAt(asked.map_or(at, |asked| asked.max(at)))
            }
        }
    }

    /// Names the endpoint this delivery is for, so that its results can update it.
    #[must_use]
    pub fn with_endpoint_id(mut self, id: impl Into<Arc<str>>) -> Delivery {
        self.endpoint_id = Some(id.into());
        self
    }

    /// The endpoint this delivery is for, if named.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.endpoint_id.as_deref()
    }

    /// The event id, the same on every attempt: the receivers' deduplication key.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The envelope bytes (before encryption).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The endpoint snapshot.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Where the delivery stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// When the next attempt is due, while pending.
    pub fn next_due(&self) -> Option<Timestamp> {
        match self.state {
            State::Pending { due } => Some(due),
            _ => None,
        }
    }

    /// Whether the delivery is over (done or given up).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done | State::GaveUp { .. })
    }

    /// The delivery log, oldest first.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// How many attempts were recorded.
    pub fn attempt_count(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }

    /// When the delivery was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
}
