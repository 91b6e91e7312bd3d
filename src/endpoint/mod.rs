//! Webhook endpoints as a platform manages them: URL, subscriptions, secrets, status, limits,
//! and the fan-out of one event to every endpoint that wants it.
//!
//! # Status rules
//!
//! | status | new events | retries in progress | leaves it by |
//! |---|---|---|---|
//! | `Active` | delivered | continue | [`Endpoint::pause`], [`Endpoint::disable`], automatic `Failed`, 410 Gone → `Disabled` |
//! | `Paused` | **held**: [`fan_out`] returns them in [`FanOut::held`] for the host to keep and send after [`Endpoint::resume`] | the host keeps them pending ([`Endpoint::may_send`] is false) | [`Endpoint::resume`] |
//! | `Failed` | held, like `Paused`, so that nothing is lost | kept pending | [`Endpoint::reactivate`], e.g. after a successful [test ping](Endpoint::test_delivery) |
//! | `Disabled` | skipped ([`FanOut::skipped`]) | stopped | [`Endpoint::reactivate`] |
//!
//! An endpoint becomes `Failed` after [`Endpoint::failure_threshold`] deliveries in a row gave
//! up (default 5), or when its deliveries have kept failing for longer than
//! [`Endpoint::failing_period`] (default 5 days, as Svix does); any delivered event resets the
//! count. A 410 Gone answer disables it at once.

mod fan_out;
mod url_policy;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::delivery::{Delivery, GiveUpReason, Next, Target};
use crate::encryption::EncryptionKey;
use crate::event::{check_dotted, TestPing};
use crate::memo::Memo;
use crate::profile::Layout;
use crate::retry::{RetrySchedule, SuccessRule};
use crate::secret::SecretForm;
use crate::{
    Envelope, EnvelopeError, Event, EventId, Scheme, Secret, SecretError, Timestamp, WebhookEvent,
};

pub use fan_out::{fan_out, FanOut, Skipped};
pub use url_policy::{classify, AddressClass, UrlError, UrlPolicy};

/// Where an endpoint stands. See the [module docs](self) for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndpointStatus {
    /// Receives events.
    Active,
    /// Paused by an admin: events are held, not dropped.
    Paused,
    /// Turned off (by an admin, or by a 410 Gone answer): events are skipped.
    Disabled,
    /// Set after repeated delivery failures: events are held until reactivation.
    Failed,
}

/// Which event types an endpoint receives: `*` for all, `sales.*` for a whole category (or
/// any dotted prefix), or exact types, catalogue or custom.
///
/// ```
/// use lms_webhooks::endpoint::EventFilter;
///
/// let f = EventFilter::parse(["sales.*", "course.member.completed", "lms.badge.earned"])?;
/// assert!(f.matches("sales.transaction.refunded"));
/// assert!(f.matches("lms.badge.earned"));
/// assert!(!f.matches("crm.user.created"));
/// assert!(EventFilter::all().matches("anything.at.all"));
/// # Ok::<(), lms_webhooks::EventTypeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> EventFilter {
        EventFilter {
            patterns: vec!["*".to_owned()],
        }
    }

    /// Patterns: `*`, a dotted prefix followed by `.*`, or an exact type.
    pub fn parse<I, S>(patterns: I) -> Result<EventFilter, crate::EventTypeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.into();
            if p != "*" {
                match p.strip_suffix(".*") {
                    // A category alone has one segment: check it as `prefix.x`.
                    Some(prefix) => check_dotted(&format!("{prefix}.x"))?,
                    None => check_dotted(&p)?,
                }
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(EventFilter { patterns: out })
    }

    /// Whether an event type passes.
    pub fn matches(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| {
            p == "*"
                || p == event_type
                || p.strip_suffix('*')
                    .is_some_and(|prefix| event_type.starts_with(prefix))
        })
    }

    /// The patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

impl TryFrom<Vec<String>> for EventFilter {
    type Error = crate::EventTypeError;
    fn try_from(v: Vec<String>) -> Result<EventFilter, Self::Error> {
        EventFilter::parse(v)
    }
}

impl From<EventFilter> for Vec<String> {
    fn from(f: EventFilter) -> Vec<String> {
        f.patterns
    }
}

/// An endpoint operation that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The URL was refused by the policy.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A secret could not be made.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The registry is full (a plan limit).
    #[error("this plan allows at most {limit} endpoints; remove one or upgrade")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// Another endpoint has this id.
    #[error("an endpoint with id `{0}` already exists")]
    DuplicateId(String),
    /// No endpoint has this id.
    #[error("no endpoint with id `{0}`")]
    NotFound(String),
    /// The test envelope could not be serialized.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// A secret kept for a grace period after a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Retired {
    secret: Secret,
    until: Timestamp,
}

/// A webhook endpoint. Its `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    id: Arc<str>,
    url: String,
    filter: EventFilter,
    scheme: Scheme,
    secret: Secret,
    #[serde(default)]
    retired: Vec<Retired>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<EncryptionKey>,
    retry: RetrySchedule,
    #[serde(default)]
    success: SuccessRule,
    #[serde(default)]
    layout: Layout,
    status: EndpointStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default)]
    last_triggered_at: Option<Timestamp>,
    #[serde(default)]
    consecutive_failures: u32,
    #[serde(default)]
    failing_since: Option<Timestamp>,
    failure_threshold: u32,
    #[serde(with = "crate::delivery::duration_secs")]
    failing_period: Duration,
    /// The delivery target last built, with the set of retired secrets it signs with.
    #[serde(skip)]
    target_memo: Memo<(u64, Arc<Target>)>,
}

impl Endpoint {
    /// Creates an Active endpoint receiving every event, with Standard Webhooks signatures and
    /// a fresh `whsec_` secret, after checking `url` against `policy`.
    ///
    /// Returns the endpoint and its secret's text: show it to the admin once; the endpoint
    /// keeps the secret to sign, and never prints it.
    pub fn create(
        id: impl Into<String>,
        url: &str,
        policy: &UrlPolicy,
        now: Timestamp,
    ) -> Result<(Endpoint, Zeroizing<String>), EndpointError> {
        policy.check(url)?;
        let secret = Secret::generate_standard()?;
        let shown = secret.expose_text();
        Ok((
            Endpoint {
                id: Arc::from(id.into()),
                url: url.to_owned(),
                filter: EventFilter::all(),
                scheme: Scheme::standard(),
                secret,
                retired: Vec::new(),
                encryption: None,
                retry: RetrySchedule::standard_webhooks(),
                success: SuccessRule::Any2xx,
                layout: Layout::Canonical,
                status: EndpointStatus::Active,
                created_at: now,
                updated_at: now,
                last_triggered_at: None,
                consecutive_failures: 0,
                failing_since: None,
                failure_threshold: 5,
                failing_period: Duration::from_secs(5 * 86_400),
                target_memo: Memo::default(),
            },
            shown,
        ))
    }

    /// Uses `scheme` and `secret` instead of the generated Standard Webhooks secret (e.g. a
    /// Learnomy-style alphanumeric secret with [`BodyHmacHex`](crate::signature::BodyHmacHex)).
    #[must_use]
    pub fn with_signing(mut self, scheme: impl Into<Scheme>, secret: Secret) -> Endpoint {
        self.scheme = scheme.into();
        self.secret = secret;
        self.target_memo.clear();
        self
    }

    /// Subscribes to the events `filter` passes.
    #[must_use]
    pub fn with_filter(mut self, filter: EventFilter) -> Endpoint {
        self.filter = filter;
        self
    }

    /// Encrypts bodies with `key`.
    #[must_use]
    pub fn with_encryption(mut self, key: EncryptionKey) -> Endpoint {
        self.encryption = Some(key);
        self.target_memo.clear();
        self
    }

    /// Sets the retry schedule and success rule.
    #[must_use]
    pub fn with_delivery(mut self, retry: RetrySchedule, success: SuccessRule) -> Endpoint {
        self.retry = retry;
        self.success = success;
        self.target_memo.clear();
        self
    }

    /// Sends bodies in `layout` (e.g. LearnWorlds' payload version 1 or 2), chosen per
    /// endpoint; [`fan_out`] renders each layout once per event.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Endpoint {
        self.layout = layout;
        self
    }

    /// Sets the automatic-`Failed` rule: after `deliveries` gave up in a row, or failures for
    /// longer than `period`.
    #[must_use]
    pub fn with_failure_rule(mut self, deliveries: u32, period: Duration) -> Endpoint {
        self.failure_threshold = deliveries.max(1);
        self.failing_period = period;
        self
    }

    /// The endpoint's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The endpoint's id, shared (for [`Delivery::with_endpoint_id`]).
    pub fn shared_id(&self) -> Arc<str> {
        Arc::clone(&self.id)
    }

    /// The delivery URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The subscriptions.
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }

    /// The status.
    pub fn status(&self) -> EndpointStatus {
        self.status
    }

    /// The signature scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The body layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The payload version, for layouts that have one (LearnWorlds: 1 or 2).
    pub fn payload_version(&self) -> Option<u8> {
        match &self.layout {
            Layout::LearnWorlds { version, .. } => Some(*version),
            _ => None,
        }
    }

    /// When the endpoint was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When it was last edited.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// When a delivery to it was last attempted ("Never" when `None`).
    pub fn last_triggered_at(&self) -> Option<Timestamp> {
        self.last_triggered_at
    }

    /// Deliveries that gave up in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// How many deliveries in a row may give up before the endpoint is `Failed`.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long deliveries may keep failing before the endpoint is `Failed`.
    pub fn failing_period(&self) -> Duration {
        self.failing_period
    }

    /// The secret's hint for admin screens (`…` and its last four characters).
    pub fn secret_hint(&self) -> String {
        self.secret.hint()
    }

    /// Changes the URL (checked against `policy`); the secret is kept.
    pub fn set_url(
        &mut self,
        url: &str,
        policy: &UrlPolicy,
        now: Timestamp,
    ) -> Result<(), UrlError> {
        policy.check(url)?;
        self.url = url.to_owned();
        self.updated_at = now;
        self.target_memo.clear();
        Ok(())
    }

    /// Changes the subscriptions; the secret is kept.
    pub fn set_filter(&mut self, filter: EventFilter, now: Timestamp) {
        self.filter = filter;
        self.updated_at = now;
    }

    /// Replaces the secret with a new one of the same kind, keeping the old one for `grace`:
    /// until then requests carry signatures by both (Standard Webhooks) so that receivers
    /// can switch at their pace. Returns the new secret's text, to show once.
    pub fn rotate_secret(
        &mut self,
        grace: Duration,
        now: Timestamp,
    ) -> Result<Zeroizing<String>, SecretError> {
        let new = match self.secret.form() {
            SecretForm::Raw => Secret::generate_alphanumeric()?,
            _ => Secret::generate_standard()?,
        };
        let shown = new.expose_text();
        let old = std::mem::replace(&mut self.secret, new);
        self.retired.retain(|r| r.until > now);
        self.retired.push(Retired {
            secret: old,
            until: now.saturating_add(grace),
        });
        self.updated_at = now;
        self.target_memo.clear();
        Ok(shown)
    }

    /// The secrets to sign with at `now`: the current one first, then those still in their
    /// grace period.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<Secret> {
        std::iter::once(self.secret.clone())
            .chain(
                self.retired
                    .iter()
                    .filter(|r| r.until > now)
                    .map(|r| r.secret.clone()),
            )
            .collect()
    }

    /// [`Endpoint::target`], shared: built once and handed to every delivery until the
    /// endpoint's settings change or a retired secret's grace period ends.
    pub fn shared_target(&self, now: Timestamp) -> Arc<Target> {
        // Which retired secrets still sign at `now`, as a bit set; past 64, build every time.
        let mask = if self.retired.len() <= 64 {
            self.retired
                .iter()
                .enumerate()
                .filter(|(_, r)| r.until > now)
                .fold(0u64, |m, (i, _)| m | 1 << i)
        } else {
            return Arc::new(self.target(now));
        };
        if let Some((_, target)) = self.target_memo.get(|(m, _)| *m == mask) {
            return target;
        }
        let target = Arc::new(self.target(now));
        self.target_memo.set((mask, Arc::clone(&target)));
        target
    }

    /// Whether it wants events of this type (whatever its status).
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.filter.matches(event_type)
    }

    /// Whether requests may be sent to it now (`Active` only).
    pub fn may_send(&self) -> bool {
        self.status == EndpointStatus::Active
    }

    /// The delivery target at `now`: URL, scheme, signing secrets, encryption, retries.
    pub fn target(&self, now: Timestamp) -> Target {
        let mut target = Target::unchecked(self.url.clone());
        target.scheme = self.scheme.clone();
        target.secrets = self.signing_secrets(now);
        target.encryption = self.encryption.clone();
        target.retry = self.retry.clone();
        target.success = self.success;
        target
    }

    /// Pauses it: events are held.
    pub fn pause(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Paused;
        self.updated_at = now;
    }

    /// Resumes a paused endpoint; the host then sends the deliveries it held.
    pub fn resume(&mut self, now: Timestamp) {
        if self.status == EndpointStatus::Paused {
            self.status = EndpointStatus::Active;
            self.updated_at = now;
        }
    }

    /// Disables it: events are skipped.
    pub fn disable(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Disabled;
        self.updated_at = now;
    }

    /// Makes it `Active` again from any status, clearing the failure count.
    pub fn reactivate(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Active;
        self.consecutive_failures = 0;
        self.failing_since = None;
        self.updated_at = now;
    }

    /// Notes that an attempt to it started (for "Last Triggered").
    pub fn note_attempt(&mut self, at: Timestamp) {
        self.last_triggered_at = Some(at);
    }

    /// Applies the result of a finished attempt to the status: a delivery resets the failure
    /// count; one that gave up counts toward `Failed`; 410 Gone disables. `RetryAt` starts the
    /// failing period. Returns the status afterwards.
    pub fn record_result(&mut self, next: Next, now: Timestamp) -> EndpointStatus {
        match next {
            Next::Done => {
                self.consecutive_failures = 0;
                self.failing_since = None;
            }
            Next::RetryAt(_) => {
                self.failing_since.get_or_insert(now);
            }
            Next::GaveUp(GiveUpReason::Gone) => {
                self.status = EndpointStatus::Disabled;
                self.updated_at = now;
            }
            Next::GaveUp(_) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.failing_since.get_or_insert(now);
            }
        }
        let failing_too_long = self
            .failing_since
            .and_then(|since| now.duration_since(since))
            .is_some_and(|d| d > self.failing_period);
        if self.status == EndpointStatus::Active
            && (self.consecutive_failures >= self.failure_threshold || failing_too_long)
        {
            self.status = EndpointStatus::Failed;
            self.updated_at = now;
        }
        self.status
    }

    /// The Test button: a `webhook.test` delivery sent now, whatever the subscriptions and
    /// status, with one attempt and no retry. Pass its result to
    /// [`Endpoint::record_test_result`].
    pub fn test_delivery(&self, now: Timestamp) -> Result<Delivery, EndpointError> {
        let ping = TestPing {
            endpoint_id: Some(self.id.to_string()),
            message: Some(
                "Test delivery: your endpoint is reachable and verifies signatures.".to_owned(),
            ),
            extra: Default::default(),
        };
        let envelope = Envelope::from_parts(
            EventId::generate(now).map_err(SecretError::from)?,
            now,
            Event::from(WebhookEvent::Test(ping)),
        );
        let mut target = self.target(now);
        target.retry = RetrySchedule::none();
        Ok(
            Delivery::new(envelope.id().as_str(), envelope.to_bytes()?, target, now)
                .with_endpoint_id(Arc::clone(&self.id)),
        )
    }

    /// Applies a test ping's result: a delivered ping reactivates a `Failed` endpoint.
    pub fn record_test_result(&mut self, next: Next, now: Timestamp) -> EndpointStatus {
        self.last_triggered_at = Some(now);
        if next == Next::Done && self.status == EndpointStatus::Failed {
            self.reactivate(now);
        }
        self.status
    }
}

/// A platform's endpoints, with an optional plan limit (Learnomy Free: 3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    endpoints: Vec<Endpoint>,
    limit: Option<usize>,
}

impl Registry {
    /// No limit.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// At most `limit` endpoints.
    pub fn with_limit(limit: usize) -> Registry {
        Registry {
            endpoints: Vec::new(),
            limit: Some(limit),
        }
    }

    /// Learnomy Free: three endpoints.
    pub fn learnomy_free() -> Registry {
        Registry::with_limit(3)
    }

    /// The limit, if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Slots used and the limit: the page header's "2 of 3".
    pub fn usage(&self) -> (usize, Option<usize>) {
        (self.endpoints.len(), self.limit)
    }

    /// Adds an endpoint, refusing past the limit or a duplicate id.
    pub fn add(&mut self, endpoint: Endpoint) -> Result<(), EndpointError> {
        if let Some(limit) = self.limit.filter(|&l| self.endpoints.len() >= l) {
            return Err(EndpointError::LimitReached { limit });
        }
        if self.get(endpoint.id()).is_some() {
            return Err(EndpointError::DuplicateId(endpoint.id.to_string()));
        }
        self.endpoints.push(endpoint);
        Ok(())
    }

    /// Removes an endpoint (Delete): no more deliveries to it.
    pub fn remove(&mut self, id: &str) -> Result<Endpoint, EndpointError> {
        let index = self
            .endpoints
            .iter()
            .position(|e| *e.id == *id)
            .ok_or_else(|| EndpointError::NotFound(id.to_owned()))?;
        Ok(self.endpoints.remove(index))
    }

    /// An endpoint by id.
    pub fn get(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| *e.id == *id)
    }

    /// An endpoint by id, to edit.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Endpoint> {
        self.endpoints.iter_mut().find(|e| *e.id == *id)
    }

    /// All endpoints, in the order added.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }
}
