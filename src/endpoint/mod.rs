//! Webhook endpoints as a platform manages them: URL, subscriptions, secrets, status, limits,
//! and the fan-out of one event to every endpoint that wants it.
//!
//! # Status rules
//!
//! | status | new events | deliveries already queued | leaves it by |
//! |---|---|---|---|
//! | `Active` | delivered | continue | [`Endpoint::pause`], [`Endpoint::disable`], automatic `Failed`, 410 Gone → `Disabled` |
//! | `Paused` | **held**: [`fan_out`] returns them in [`FanOut::held`] | **held**: [`Endpoint::request`] answers [`RequestError::Held`] and changes nothing; they continue after [`Endpoint::resume`] | [`Endpoint::resume`] |
//! | `Failed` | held, like `Paused`, so that nothing is lost | held | [`Endpoint::reactivate`], e.g. after a successful [test ping](Endpoint::test_delivery) |
//! | `Disabled` | skipped ([`FanOut::skipped`]) | **ended** at their next attempt: [`GiveUpReason::EndpointDisabled`](crate::delivery::GiveUpReason::EndpointDisabled), logged | [`Endpoint::reactivate`] (then [`recover`](crate::delivery::recover) what ended) |
//! | deleted ([`Registry::remove`]) | none | ended at their next attempt through [`Registry::request`]: [`GiveUpReason::EndpointDeleted`](crate::delivery::GiveUpReason::EndpointDeleted) | — |
//!
//! Every attempt is built from the endpoint as it is at that moment ([`Endpoint::target`]): its
//! URL, its secrets (the current one and those still in a rotation's grace period), its
//! encryption key, scheme, retry schedule and success rule. Deliveries themselves hold none
//! of these.
//!
//! An endpoint becomes `Failed` after [`Endpoint::failure_threshold`] deliveries in a row gave
//! up (default 5), or when its deliveries have kept failing for longer than
//! [`Endpoint::failing_period`] (default 5 days, as Svix does); any delivered event resets the
//! count. A 410 Gone answer disables it at once.

mod error;
mod fan_out;
mod filter;
mod health;
mod registry;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::delivery::{Delivery, Next, Outcome, RecordError, RequestError, SuccessRule, Target};
#[cfg(feature = "encryption")]
use crate::encryption::EncryptionKey;
use crate::event::TestPing;
use crate::memo::Memo;
use crate::profile::{Layout, Profile};
use crate::retry::RetrySchedule;
use crate::secret::SecretForm;
use crate::{Envelope, Event, EventId, Scheme, Secret, SecretError, Timestamp, WebhookEvent};

pub use crate::status::EndpointStatus;
pub use crate::url_policy::{classify, AddressClass, DeliveryUrl, UrlError, UrlPolicy};
pub use error::EndpointError;
pub use fan_out::{fan_out, fan_out_to, FanOut, Skipped, Subscriber, Subscription};
pub use filter::EventFilter;
pub use health::{Health, HealthChange, HealthEffect, HealthNotice};
pub use registry::Registry;

/// A secret kept for a grace period after a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Retired {
    secret: Secret,
    until: Timestamp,
}

/// A webhook endpoint. Its `Debug` shows no secret.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use lms_webhooks::delivery::{Delivery, Next, Outcome};
/// use lms_webhooks::endpoint::{Endpoint, UrlPolicy};
/// use lms_webhooks::Timestamp;
///
/// let t0 = Timestamp::from_unix(1_800_000_000)?;
/// let policy = UrlPolicy::new();
/// let (mut crm, secret) = Endpoint::create(t0, "ep_crm", "https://crm.example.com/in", &policy)?;
/// assert!(secret.starts_with("whsec_")); // shown to the admin once
///
/// let mut delivery = Delivery::new(t0, "evt_1", crm.shared_id(), &b"{}"[..]);
/// let first = crm.request(t0, &mut delivery)?;
/// assert_eq!(crm.record(t0, &mut delivery, Outcome::status(500))?, Next::RetryAt(t0.saturating_add(Duration::from_secs(5))));
///
/// // The admin moves the endpoint and rotates its secret with no grace period:
/// crm.set_url(t0, "https://crm.example.com/v2/in", &policy)?;
/// crm.rotate_secret(t0, Duration::ZERO)?;
/// // The retry goes to the new URL, signed with the new secret only.
/// let t1 = t0.saturating_add(Duration::from_secs(5));
/// let retry = crm.request(t1, &mut delivery)?;
/// assert_eq!(retry.uri(), "https://crm.example.com/v2/in");
/// assert_ne!(retry.headers()["webhook-signature"], first.headers()["webhook-signature"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Laid out in the order written: what a fan-out reads of every endpoint (id, status, filter,
// layout, the target) comes first, within ~140 bytes; the secret with its cached keys (over a
// kilobyte in all) and the rest follow. With thousands of endpoints, each is read from memory:
// with the default layout those fields lay across five cache lines; fan-out with signatures,
// 10,000 endpoints: ~905 -> ~815 ns per endpoint.
#[repr(C)]
pub struct Endpoint {
    id: Arc<str>,
    status: EndpointStatus,
    filter: EventFilter,
    #[serde(default)]
    layout: Layout,
    /// The delivery target last built, with the set of retired secrets it signs with.
    #[serde(skip)]
    target_memo: Memo<(u64, Arc<Target>)>,
    #[serde(default)]
    retired: Vec<Retired>,
    url: DeliveryUrl,
    scheme: Scheme,
    secret: Secret,
    #[cfg(feature = "encryption")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<EncryptionKey>,
    /// Without the `encryption` feature, an endpoint stored with a key is refused rather than
    /// read as one that sends its bodies in the clear.
    #[cfg(not(feature = "encryption"))]
    #[serde(default, skip_serializing, deserialize_with = "refuse_encryption")]
    encryption: (),
    retry: RetrySchedule,
    #[serde(default)]
    success: SuccessRule,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default)]
    last_triggered_at: Option<Timestamp>,
    #[serde(default)]
    consecutive_failures: u32,
    #[serde(default)]
    failing_since: Option<Timestamp>,
    failure_threshold: u32,
    #[serde(with = "crate::text::duration_secs")]
    failing_period: Duration,
}

impl Endpoint {
    /// Creates an Active endpoint receiving every event, with Standard Webhooks signatures and
    /// a fresh `whsec_` secret, after checking `url` against `policy`.
    ///
    /// Returns the endpoint and its secret's text: show it to the admin once; the endpoint
    /// keeps the secret to sign, and never prints it.
    pub fn create(
        now: Timestamp,
        id: impl Into<String>,
        url: &str,
        policy: &UrlPolicy,
    ) -> Result<(Endpoint, Zeroizing<String>), EndpointError> {
        let url = policy.check(url)?;
        let secret = Secret::generate_standard()?;
        let shown = secret.expose_text();
        Ok((
            Endpoint {
                id: Arc::from(id.into()),
                url,
                filter: EventFilter::all(),
                scheme: Scheme::standard(),
                secret,
                retired: Vec::new(),
                // `None`, or `()` without the `encryption` feature.
                encryption: Default::default(),
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

    /// Takes a platform profile's settings: its signature scheme (the secret is kept when the
    /// profile signs with Standard Webhooks, and must be set with [`Endpoint::with_signing`]
    /// otherwise), body layout, retry schedule and success rule. For an encrypted profile
    /// (Learnybox), add the key with `Endpoint::with_encryption` (the `encryption` feature).
    #[must_use]
    pub fn with_profile(mut self, profile: &Profile) -> Endpoint {
        self.scheme = profile.scheme().clone();
        self.layout = profile.layout().clone();
        self.retry = profile.retry().clone();
        self.success = profile.success();
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
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
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

    /// The endpoint's id, shared (for [`Delivery::new`]: the deliveries of one endpoint share it).
    pub fn shared_id(&self) -> Arc<str> {
        Arc::clone(&self.id)
    }

    /// The delivery URL.
    pub fn url(&self) -> &DeliveryUrl {
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

    /// Changes the URL (checked against `policy`); the secret is kept. Deliveries already
    /// queued go to the new URL from their next attempt.
    pub fn set_url(
        &mut self,
        now: Timestamp,
        url: &str,
        policy: &UrlPolicy,
    ) -> Result<(), UrlError> {
        self.url = policy.check(url)?;
        self.updated_at = now;
        self.target_memo.clear();
        Ok(())
    }

    /// Changes the subscriptions; the secret is kept.
    pub fn set_filter(&mut self, now: Timestamp, filter: EventFilter) {
        self.filter = filter;
        self.updated_at = now;
    }

    /// Replaces the secret with a new one of the same kind, keeping the old one for `grace`:
    /// until then requests carry signatures by both (Standard Webhooks) so that receivers
    /// can switch at their pace. Returns the new secret's text, to show once.
    ///
    /// Deliveries already queued are signed with the new set from their next attempt; with a
    /// zero `grace`, with the new secret only.
    pub fn rotate_secret(
        &mut self,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Zeroizing<String>, SecretError> {
        let new = match self.secret.form() {
            SecretForm::Raw => Secret::generate_alphanumeric()?,
            // A `v1a` endpoint stays asymmetric: give receivers the new key's `public_key()`.
            #[cfg(feature = "v1a")]
            SecretForm::Whsk | SecretForm::Whpk => Secret::generate_ed25519()?,
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

    /// The `whpk_` public key of an endpoint that signs Standard Webhooks `v1a` (its secret is
    /// a `whsk_` key), to show its receivers; `None` for a shared secret.
    pub fn public_key(&self) -> Option<Secret> {
        self.secret.public_key()
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

    /// The endpoint as it is at `now`, for one attempt: its URL, status, scheme, signing
    /// secrets (the current one first, then those still in a rotation's grace period),
    /// encryption key, retry schedule and success rule.
    ///
    /// Built once and shared until a setting changes or a retired secret's grace period ends.
    pub fn target(&self, now: Timestamp) -> Arc<Target> {
        // Which retired secrets still sign at `now`, as a bit set; past 64, build every time.
        if self.retired.len() > 64 {
            return Arc::new(self.build_target(now));
        }
        let mask = self
            .retired
            .iter()
            .enumerate()
            .filter(|(_, r)| r.until > now)
            .fold(0u64, |m, (i, _)| m | 1 << i);
        if let Some((_, target)) = self.target_memo.get(|(m, _)| *m == mask) {
            return target;
        }
        let target = Arc::new(self.build_target(now));
        self.target_memo.set((mask, Arc::clone(&target)));
        target
    }

    fn build_target(&self, now: Timestamp) -> Target {
        let target = Target::new(self.url.clone())
            .with_endpoint_id(Arc::clone(&self.id))
            .with_status(self.status)
            .with_scheme(self.scheme.clone())
            .with_secrets(self.signing_secrets(now))
            .with_retry(self.retry.clone())
            .with_success(self.success);
        #[cfg(feature = "encryption")]
        if let Some(key) = &self.encryption {
            return target.with_encryption(key.clone());
        }
        target
    }

    /// Builds the next attempt of `delivery` from the endpoint as it is now, and notes the
    /// attempt for "Last Triggered". A paused or failed endpoint holds the delivery
    /// ([`RequestError::Held`]); a disabled one ends it ([`RequestError::Ended`]).
    pub fn request(
        &mut self,
        now: Timestamp,
        delivery: &mut Delivery,
    ) -> Result<Request<Bytes>, RequestError> {
        let request = delivery.next_request(now, &self.target(now))?;
        self.last_triggered_at = Some(now);
        Ok(request)
    }

    /// Records the outcome of `delivery`'s attempt in flight with the endpoint's current retry
    /// schedule and success rule, and applies the result to the endpoint's status
    /// ([`Endpoint::record_result`]).
    pub fn record(
        &mut self,
        now: Timestamp,
        delivery: &mut Delivery,
        outcome: Outcome,
    ) -> Result<Next, RecordError> {
        let next = delivery.record(now, &self.target(now), outcome)?;
        let started = delivery.attempts().last().map_or(now, |a| a.started_at);
        self.apply_health(now, HealthChange::of(started, next));
        Ok(next)
    }

    /// Whether it wants events of this type (whatever its status).
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.filter.matches(event_type)
    }

    /// Whether requests may be sent to it now (`Active` only).
    pub fn may_send(&self) -> bool {
        self.status == EndpointStatus::Active
    }

    /// Pauses it: events are held.
    pub fn pause(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Paused;
        self.target_memo.clear();
        self.updated_at = now;
    }

    /// Resumes a paused endpoint; the host then sends the deliveries it held.
    pub fn resume(&mut self, now: Timestamp) {
        if self.status == EndpointStatus::Paused {
            self.status = EndpointStatus::Active;
            self.target_memo.clear();
            self.updated_at = now;
        }
    }

    /// Disables it: events are skipped.
    pub fn disable(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Disabled;
        self.target_memo.clear();
        self.updated_at = now;
    }

    /// Makes it `Active` again from any status, clearing the failure count.
    pub fn reactivate(&mut self, now: Timestamp) {
        self.status = EndpointStatus::Active;
        self.target_memo.clear();
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
    /// failing period. Returns the status afterwards. (The attempt's start is taken to be
    /// `now`; [`Endpoint::apply_health`] takes a [`HealthChange`] that says it.)
    pub fn record_result(&mut self, now: Timestamp, next: Next) -> EndpointStatus {
        self.apply_health(now, HealthChange::of(now, next));
        self.status
    }

    /// Its health: status, failures in a row, failing since, last triggered.
    pub fn health(&self) -> Health {
        Health {
            status: self.status,
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since,
            last_triggered_at: self.last_triggered_at,
        }
    }

    /// Replaces its health with what a store kept beside it (a store that changes health with
    /// atomic updates of its own columns, as `lms-webhooks-postgres` does, sets it on load).
    pub fn set_health(&mut self, health: Health) {
        if health.status != self.status {
            self.target_memo.clear();
        }
        self.status = health.status;
        self.consecutive_failures = health.consecutive_failures;
        self.failing_since = health.failing_since;
        self.last_triggered_at = health.last_triggered_at;
    }

    /// Applies one attempt's [`HealthChange`] at `now` with the endpoint's failure rule (see
    /// [`Health::apply`]), and returns what an operator should hear of.
    pub fn apply_health(&mut self, now: Timestamp, change: HealthChange) -> Option<HealthNotice> {
        let mut health = self.health();
        let notice = health.apply(now, change, self.failure_threshold, self.failing_period);
        if health.status != self.status {
            self.updated_at = now;
        }
        self.set_health(health);
        notice
    }

    /// The Test button: a `webhook.test` delivery to send now with
    /// [`Endpoint::test_target`], whatever the subscriptions and status. Pass its result to
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
        let body = self.layout.render(&envelope)?;
        Ok(Delivery::new(
            now,
            envelope.id().as_str(),
            Arc::clone(&self.id),
            body,
        ))
    }

    /// The target for a test ping: the endpoint as it is now, but sent whatever its status,
    /// with one attempt and no retry.
    pub fn test_target(&self, now: Timestamp) -> Target {
        self.build_target(now)
            .with_status(EndpointStatus::Active)
            .with_retry(RetrySchedule::none())
    }

    /// Applies a test ping's result: a delivered ping reactivates a `Failed` endpoint.
    pub fn record_test_result(&mut self, now: Timestamp, next: Next) -> EndpointStatus {
        self.apply_health(now, HealthChange::of_test(now, next));
        self.status
    }
}

/// An endpoint's stored `encryption` key read by a build without the `encryption` feature: an
/// error naming the feature (absent or `null` is fine).
#[cfg(not(feature = "encryption"))]
fn refuse_encryption<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    match Option::<serde::de::IgnoredAny>::deserialize(deserializer)? {
        None => Ok(()),
        Some(_) => Err(serde::de::Error::custom(
            "the endpoint encrypts its bodies: reading it needs lms-webhooks' `encryption` feature",
        )),
    }
}
