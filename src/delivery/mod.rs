//! The sans-IO delivery state machine: what request to send, and after each attempt, whether
//! the delivery is done, when to try again, or that it failed for good.
//!
//! ```text
//!        next_request(now, &target)           record(now, &target, outcome)
//!  Pending ─────────────────────────▶ InFlight ─────────────────────────────▶ Done
//!     ▲  ▲                                          │                         GaveUp(reason)
//!     │  └──────────────── RetryAt(t) ◀─────────────┘                            │
//!     └──────────── resend / recover (by hand) ◀─────────────────────────────────┘
//! ```
//!
//! # Deliveries follow their endpoint
//!
//! A [`Delivery`] holds what is its own: the event id, the endpoint id, the body, its state,
//! the attempt log and the operations log. It holds **no secret, key or URL**: every attempt
//! is built from a [`Target`], the endpoint's settings as they are at that moment
//! ([`Endpoint::target`](crate::endpoint::Endpoint::target)). So a secret rotated with no grace
//! period, an edited URL or a new retry schedule reaches deliveries already queued, and the
//! serialized form is safe to store and to log.
//!
//! It never sleeps, never sends and never reads the clock: the host sends the
//! [`http::Request`](https://docs.rs/http/1/http/request/struct.Request.html) with its own client (or a [`Transport`](crate::transport::Transport)),
//! persists the delivery ([`Delivery::to_json`], [`Delivery::from_json`], or serde) and
//! schedules the next attempt at the time [`Next::RetryAt`] names, in its own job queue.
//!
//! # The endpoint's status reaches the queue
//!
//! | the endpoint is | [`Delivery::next_request`] | the delivery |
//! |---|---|---|
//! | `Active` | builds the request | goes on |
//! | `Paused`, `Failed` | refuses with [`RequestError::Held`] | unchanged, **held**: ask again after [`Endpoint::resume`](crate::endpoint::Endpoint::resume) / [`reactivate`](crate::endpoint::Endpoint::reactivate) |
//! | `Disabled` | refuses with [`RequestError::Ended`] | gives up with [`GiveUpReason::EndpointDisabled`], logged |
//! | deleted ([`Registry::request`](crate::endpoint::Registry::request) finds no endpoint) | refuses with [`RequestError::Ended`] | gives up with [`GiveUpReason::EndpointDeleted`], logged |
//!
//! An attempt already in flight when the status changes is recorded as usual; the status
//! applies from the next attempt on.
//!
//! # Manual operations
//!
//! Every webhook dashboard has them, and each is recorded in the [operations
//! log](Delivery::operations) with who did it and why:
//!
//! - [`Delivery::resend`]: one delivery again now, whatever its state (also after it gave
//!   up or was delivered): same event id, a new attempt, and a fresh retry schedule;
//! - [`recover`]: every delivery of an endpoint that failed since a time (Svix's "recover");
//! - [`Delivery::cancel`]: stop a pending delivery for good.
//!
//! # Examples
//!
//! ```
//! use lms_webhooks::delivery::{Delivery, Next, Outcome, Target};
//! use lms_webhooks::endpoint::UrlPolicy;
//! use lms_webhooks::retry::RetrySchedule;
//! use lms_webhooks::{Envelope, Event, EventType, Secret, Timestamp};
//!
//! let envelope = Envelope::new(Event::sample(EventType::WebhookTest));
//! let t0 = Timestamp::from_unix(1_700_000_000)?;
//! let mut delivery = Delivery::new(t0, envelope.id().as_str(), "ep_crm", envelope.to_bytes()?);
//!
//! // Each attempt takes the endpoint's settings as they are now.
//! let target = Target::new(UrlPolicy::new().check("https://crm.example.com/hooks")?)
//!     .with_secret(Secret::generate_standard()?)
//!     .with_retry(RetrySchedule::learnybox());
//! let request = delivery.next_request(t0, &target)?; // POST, signed; the host sends it
//! assert_eq!(request.method(), "POST");
//! let next = delivery.record(t0, &target, Outcome::status(503))?;
//! assert_eq!(next, Next::RetryAt(Timestamp::from_unix(1_700_000_060)?));
//!
//! // Stored between attempts: no secret in it.
//! let stored = delivery.to_json();
//! let mut delivery = Delivery::from_json(&stored)?;
//!
//! let t1 = Timestamp::from_unix(1_700_000_060)?;
//! delivery.next_request(t1, &target)?;
//! assert_eq!(delivery.record(t1, &target, Outcome::status(200))?, Next::Done);
//! assert_eq!(delivery.attempts().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod state;
mod stored;
mod target;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT as USER_AGENT_HEADER};
use http::{Method, Request};

use crate::retry::{RetryContext, RetryDecision, RetryPolicy};
use crate::signature::Message;
use crate::status::EndpointStatus;
use crate::text::clip;
use crate::Timestamp;

pub use crate::outcome::{parse_retry_after, Outcome, SuccessRule};
pub use error::{LoadError, OperationError, RecordError, RequestError};
pub use state::{Action, Attempt, DeliveryParts, GiveUpReason, Next, Operation, State};
pub use stored::FORMAT_VERSION;
pub use target::{Target, DEFAULT_MAX_RETRY_AFTER};

/// The `user-agent` of every request.
pub const USER_AGENT: &str = concat!("lms-webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest `by` and `reason` texts kept in the operations log, in characters.
const MAX_NOTE: usize = 200;

/// One event on its way to one endpoint. See the [module docs](self).
///
/// Its serde form (and [`Delivery::to_json`]) holds the event id, the endpoint id, the body,
/// the state with the next due time, the attempt and operations logs, the creation time and a
/// format version ([`FORMAT_VERSION`]); no secret, key or URL.
///
/// # Examples
///
/// A delivery that waits for a paused endpoint, then is resent by hand after it gave up.
///
/// ```
/// use lms_webhooks::delivery::{Delivery, Next, Outcome, RequestError, State};
/// use lms_webhooks::endpoint::{Endpoint, EndpointStatus, UrlPolicy};
/// use lms_webhooks::retry::RetrySchedule;
/// use lms_webhooks::{SuccessRule, Timestamp};
///
/// let t0 = Timestamp::from_unix(1_800_000_000)?;
/// let (crm, _) = Endpoint::create(t0, "ep_crm", "https://crm.example.com/in", &UrlPolicy::new())?;
/// let mut crm = crm.with_delivery(RetrySchedule::none(), SuccessRule::Any2xx);
/// let mut d = Delivery::new(t0, "evt_1", "ep_crm", &b"{}"[..]);
///
/// crm.pause(t0);
/// let held = crm.request(t0, &mut d).unwrap_err();
/// assert_eq!(held, RequestError::Held { status: EndpointStatus::Paused });
/// crm.resume(t0);
/// crm.request(t0, &mut d)?;
/// assert!(matches!(crm.record(t0, &mut d, Outcome::Timeout)?, Next::GaveUp(_)));
///
/// d.resend(t0, "ada@school.example", "the CRM is back")?;
/// assert_eq!(d.state(), State::Pending { due: t0 });
/// assert_eq!(d.operations()[0].by, "ada@school.example");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    event_id: Arc<str>,
    endpoint_id: Arc<str>,
    body: Bytes,
    created_at: Timestamp,
    state: State,
    /// The attempts recorded by this value: all of them, unless it was built from
    /// [`DeliveryParts`] (then those since).
    attempts: Vec<Attempt>,
    operations: Vec<Operation>,
    /// Every attempt made, logged here or not.
    attempt_count: u32,
    /// Attempts made before the last resend or recovery: the retry schedule counts from there.
    round_start: u32,
    /// When the round's first attempt started: the schedule's origin.
    round_first_at: Option<Timestamp>,
    /// Seeds the jitter, so that retries are reproducible yet differ between deliveries.
    seed: u64,
}

/// SplitMix64: a tiny, well-mixed generator for jitter; not for secrets.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Delivery {
    /// A delivery of `body` (the envelope bytes in the endpoint's layout, before encryption)
    /// for event `event_id` to endpoint `endpoint_id`, due at `now`. The ids and body may be
    /// shared by many deliveries (pass `Arc<str>` and [`Bytes`](https://docs.rs/bytes/1/bytes/struct.Bytes.html)): nothing is copied.
    pub fn new(
        now: Timestamp,
        event_id: impl Into<Arc<str>>,
        endpoint_id: impl Into<Arc<str>>,
        body: impl Into<Bytes>,
    ) -> Delivery {
        let event_id = event_id.into();
        let endpoint_id = endpoint_id.into();
        let seed = event_id
            .bytes()
            .chain([0])
            .chain(endpoint_id.bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Delivery {
            event_id,
            endpoint_id,
            body: body.into(),
            created_at: now,
            state: State::Pending { due: now },
            attempts: Vec::new(),
            operations: Vec::new(),
            attempt_count: 0,
            round_start: 0,
            round_first_at: None,
            seed,
        }
    }

    /// A delivery from the state a store keeps in columns ([`Delivery::parts`]), without its
    /// logs: the attempts live in the store's own log, and [`Delivery::attempts`] then holds
    /// only those recorded from here on. Refused when the parts contradict each other.
    pub fn from_parts(parts: DeliveryParts) -> Result<Delivery, LoadError> {
        if parts.round_start > parts.attempt_count {
            return Err(LoadError::Inconsistent(
                "round_start is past the attempt count",
            ));
        }
        if let State::InFlight { attempt, .. } = parts.state {
            if attempt != parts.attempt_count.saturating_add(1) {
                return Err(LoadError::Inconsistent(
                    "the attempt in flight does not follow the attempt count",
                ));
            }
        }
        if parts.round_first_at.is_none() && parts.attempt_count > parts.round_start {
            return Err(LoadError::Inconsistent(
                "the round has attempts but no first attempt time",
            ));
        }
        Ok(Delivery {
            event_id: parts.event_id,
            endpoint_id: parts.endpoint_id,
            body: parts.body,
            created_at: parts.created_at,
            state: parts.state,
            attempts: Vec::new(),
            operations: Vec::new(),
            attempt_count: parts.attempt_count,
            round_start: parts.round_start,
            round_first_at: parts.round_first_at,
            seed: parts.seed,
        })
    }

    /// Its state without the logs, for a store that keeps it in columns and the attempts in a
    /// log of its own ([`Delivery::from_parts`] takes it back).
    pub fn parts(&self) -> DeliveryParts {
        DeliveryParts {
            event_id: Arc::clone(&self.event_id),
            endpoint_id: Arc::clone(&self.endpoint_id),
            body: self.body.clone(),
            created_at: self.created_at,
            state: self.state,
            attempt_count: self.attempt_count,
            round_start: self.round_start,
            round_first_at: self.round_first_at,
            seed: self.seed,
        }
    }

    /// Builds the next attempt's request from `target`, the endpoint as it is now: POST, JSON,
    /// encrypted first if the target says so, signed at `now` with the target's current
    /// secrets (a fresh signature timestamp each attempt, the same event id).
    ///
    /// The host calls it at or after [`Delivery::next_due`]; the delivery is then in flight
    /// until [`Delivery::record`]. A `Paused` or `Failed` target holds the delivery
    /// ([`RequestError::Held`], nothing changes); a `Disabled` one ends it
    /// ([`RequestError::Ended`]). See the [rules](self#the-endpoints-status-reaches-the-queue).
    pub fn next_request(
        &mut self,
        now: Timestamp,
        target: &Target,
    ) -> Result<Request<Bytes>, RequestError> {
        match self.state {
            State::Pending { .. } => {}
            State::InFlight { attempt, .. } => return Err(RequestError::InFlight { attempt }),
            finished => return Err(RequestError::Finished(finished)),
        }
        if let Some(id) = target.endpoint_id() {
            if id != &*self.endpoint_id {
                return Err(RequestError::WrongEndpoint {
                    delivery: self.endpoint_id.to_string(),
                    target: id.to_owned(),
                });
            }
        }
        match target.status() {
            EndpointStatus::Active => {}
            EndpointStatus::Disabled => {
                let reason = GiveUpReason::EndpointDisabled;
                self.end(now, reason, "endpoint", "the endpoint is disabled");
                return Err(RequestError::Ended { reason });
            }
            status => return Err(RequestError::Held { status }),
        }
        #[cfg(feature = "encryption")]
        let body = match target.encryption() {
            Some(key) => Bytes::from(key.encrypt(&self.body)?),
            None => self.body.clone(),
        };
        #[cfg(not(feature = "encryption"))]
        let body = self.body.clone();
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        target.scheme().sign_into(
            target.secrets(),
            &Message::new(&self.event_id, now, &body),
            &mut headers,
        )?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = target.url().uri().clone();
        *request.headers_mut() = headers;
        self.state = State::InFlight {
            attempt: self.attempt_count() + 1,
            started_at: now,
        };
        Ok(request)
    }

    /// Records the outcome of the attempt in flight, deciding with the target's success rule,
    /// retry schedule and `Retry-After` limit (the endpoint's, as they are now).
    pub fn record(
        &mut self,
        now: Timestamp,
        target: &Target,
        outcome: Outcome,
    ) -> Result<Next, RecordError> {
        self.record_with(now, target, outcome, target.retry())
    }

    /// [`Delivery::record`] with a custom retry policy instead of the target's schedule.
    pub fn record_with(
        &mut self,
        now: Timestamp,
        target: &Target,
        outcome: Outcome,
        policy: &(impl RetryPolicy + ?Sized),
    ) -> Result<Next, RecordError> {
        let (attempt, started_at) = self.in_flight()?;
        let next = self.decide(attempt, now, &outcome, target, policy);
        Ok(self.apply(attempt, started_at, now, outcome, next))
    }

    /// Records the outcome of the attempt in flight when its endpoint no longer exists: the
    /// attempt is logged and the delivery ends with [`GiveUpReason::EndpointDeleted`].
    pub fn record_deleted(
        &mut self,
        now: Timestamp,
        outcome: Outcome,
    ) -> Result<Next, RecordError> {
        let (attempt, started_at) = self.in_flight()?;
        let next = self.apply(
            attempt,
            started_at,
            now,
            outcome,
            Next::GaveUp(GiveUpReason::EndpointDeleted),
        );
        self.note(
            now,
            Action::EndpointDeleted,
            "endpoint",
            "the endpoint was deleted",
        );
        Ok(next)
    }

    /// Ends a delivery whose endpoint was deleted (or is about to be): it gives up with
    /// [`GiveUpReason::EndpointDeleted`], logged. An attempt in flight is abandoned (its
    /// outcome can no longer be recorded). Does nothing to a finished delivery.
    pub fn end_for_deleted_endpoint(&mut self, now: Timestamp) {
        if !self.state.is_finished() {
            self.end(
                now,
                GiveUpReason::EndpointDeleted,
                "endpoint",
                "the endpoint was deleted",
            );
        }
    }

    /// Sends it again now, by hand, whatever its state (pending, delivered or given up): the
    /// same event id, a new attempt, and the retry schedule counted afresh from it. `by` and
    /// `reason` go to the operations log. Refused only while an attempt is in flight.
    pub fn resend(&mut self, now: Timestamp, by: &str, reason: &str) -> Result<(), OperationError> {
        if let State::InFlight { attempt, .. } = self.state {
            return Err(OperationError::InFlight { attempt });
        }
        self.restart(now, Action::Resend, by, reason);
        Ok(())
    }

    /// Sends a delivery that gave up again, as part of a recovery (see [`recover`]). Refused
    /// for a delivery that has not given up.
    pub fn recover(
        &mut self,
        now: Timestamp,
        by: &str,
        reason: &str,
    ) -> Result<(), OperationError> {
        if !matches!(self.state, State::GaveUp { .. }) {
            return Err(OperationError::NotFailed(self.state));
        }
        self.restart(now, Action::Recover, by, reason);
        Ok(())
    }

    /// Cancels it for good: it gives up with [`GiveUpReason::Canceled`]. An attempt in flight
    /// is abandoned (its outcome can no longer be recorded). Refused for a finished delivery.
    pub fn cancel(&mut self, now: Timestamp, by: &str, reason: &str) -> Result<(), OperationError> {
        if self.state.is_finished() {
            return Err(OperationError::Finished(self.state));
        }
        self.end(now, GiveUpReason::Canceled, by, reason);
        Ok(())
    }

    fn restart(&mut self, now: Timestamp, action: Action, by: &str, reason: &str) {
        self.round_start = self.attempt_count();
        self.round_first_at = None;
        self.state = State::Pending { due: now };
        self.note(now, action, by, reason);
    }

    fn end(&mut self, now: Timestamp, reason: GiveUpReason, by: &str, why: &str) {
        self.state = State::GaveUp { reason, at: now };
        let action = match reason {
            GiveUpReason::EndpointDeleted => Action::EndpointDeleted,
            GiveUpReason::Canceled => Action::Cancel,
            _ => Action::EndpointDisabled,
        };
        self.note(now, action, by, why);
    }

    fn note(&mut self, at: Timestamp, action: Action, by: &str, reason: &str) {
        self.operations.push(Operation {
            at,
            action,
            by: clip(by, MAX_NOTE),
            reason: clip(reason, MAX_NOTE),
        });
    }

    fn in_flight(&self) -> Result<(u32, Timestamp), RecordError> {
        match self.state {
            State::InFlight {
                attempt,
                started_at,
            } => Ok((attempt, started_at)),
            State::Pending { .. } => Err(RecordError::NotInFlight),
            finished => Err(RecordError::Finished(finished)),
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
            Next::GaveUp(reason) => State::GaveUp { reason, at: now },
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
        self.attempt_count = self.attempt_count.max(attempt);
        if attempt == self.round_start + 1 {
            self.round_first_at = Some(started_at);
        }
        next
    }

    fn decide(
        &self,
        attempt: u32,
        now: Timestamp,
        outcome: &Outcome,
        target: &Target,
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
            Some(s) if target.success().is_success(s) => return Next::Done,
            Some(410) => return Next::GaveUp(GiveUpReason::Gone),
            _ => {}
        }
        // The schedule counts the attempts of this round (since the last resend or recovery).
        let first = self.round_first_at.unwrap_or(now);
        let in_round = attempt.saturating_sub(self.round_start);
        let random = splitmix(self.seed ^ u64::from(attempt));
        let ctx = RetryContext::new(now, in_round, first, outcome, random);
        match policy.decide(&ctx) {
            RetryDecision::GiveUp => Next::GaveUp(GiveUpReason::Exhausted),
            RetryDecision::RetryAt(at) => {
                // 429 and 503 may ask for more time; never less than the schedule, and never
                // more than the target allows.
                let asked = match (status, retry_after) {
                    (Some(429 | 503), Some(value)) => parse_retry_after(now, value)
                        .map(|wait| now.saturating_add(wait.min(target.max_retry_after()))),
                    _ => None,
                };
                Next::RetryAt(asked.map_or(at, |asked| asked.max(at)))
            }
        }
    }

    /// The endpoint this delivery is for.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The event id, the same on every attempt: the receivers' deduplication key.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The body (before encryption).
    pub fn body(&self) -> &Bytes {
        &self.body
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
        self.state.is_finished()
    }

    /// The attempt log, oldest first: every attempt, unless the delivery was built from
    /// [`DeliveryParts`] (then the attempts recorded since; [`Delivery::attempt_count`] counts
    /// them all). A delivery built from parts is stored by its parts, not by
    /// [`Delivery::to_json`], whose log would not match its count.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The operations log (resends, recoveries, cancels, status-driven ends), oldest first.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// How many attempts were recorded.
    pub fn attempt_count(&self) -> u32 {
        self.attempt_count
    }

    /// When the delivery was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// Recovers every delivery of `endpoint_id` that gave up at or after `since` (Svix's
/// "recover failed messages since"): each is sent again now, with a fresh retry schedule,
/// and logged with `by` and `reason`. Canceled deliveries stay canceled. Returns how many were
/// recovered.
///
/// # Examples
///
/// ```
/// use lms_webhooks::delivery::{recover, Delivery, Outcome, State, Target};
/// use lms_webhooks::endpoint::UrlPolicy;
/// use lms_webhooks::retry::RetrySchedule;
/// use lms_webhooks::{Secret, Timestamp};
///
/// let t0 = Timestamp::from_unix(1_800_000_000)?;
/// let target = Target::new(UrlPolicy::new().check("https://crm.example.com/in")?)
///     .with_secret(Secret::generate_standard()?)
///     .with_retry(RetrySchedule::none());
/// let mut queue: Vec<Delivery> = (0..3)
///     .map(|i| Delivery::new(t0, format!("evt_{i}"), "ep_crm", &b"{}"[..]))
///     .collect();
/// for d in &mut queue {
///     d.next_request(t0, &target)?;
///     d.record(t0, &target, Outcome::status(500))?; // no retry: gives up
/// }
/// let n = recover(t0, &mut queue, "ep_crm", t0, "ada@school", "receiver fixed");
/// assert_eq!(n, 3);
/// assert!(queue.iter().all(|d| matches!(d.state(), State::Pending { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recover<'a>(
    now: Timestamp,
    deliveries: impl IntoIterator<Item = &'a mut Delivery>,
    endpoint_id: &str,
    since: Timestamp,
    by: &str,
    reason: &str,
) -> usize {
    let mut count = 0;
    for delivery in deliveries {
        let eligible = delivery.endpoint_id() == endpoint_id
            && matches!(delivery.state, State::GaveUp { reason: why, at }
                if why != GiveUpReason::Canceled && at >= since);
        if eligible && delivery.recover(now, by, reason).is_ok() {
            count += 1;
        }
    }
    count
}
