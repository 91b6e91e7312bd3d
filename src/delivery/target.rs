//! [`Target`]: an endpoint's sending settings as they are at one moment.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::SuccessRule;
#[cfg(feature = "encryption")]
use crate::encryption::EncryptionKey;
use crate::retry::RetrySchedule;
use crate::status::EndpointStatus;
use crate::url_policy::DeliveryUrl;
use crate::{Scheme, Secret};

/// The longest `Retry-After` honoured by default: one hour.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where and how to send an attempt: an endpoint's settings **as they are now**.
///
/// A target is never stored with a delivery: each attempt takes the one its endpoint gives at
/// that moment ([`Endpoint::target`](crate::endpoint::Endpoint::target)), so a rotated secret,
/// an edited URL or a paused endpoint reaches deliveries already queued. It holds secrets, so
/// it has no serde form, and its `Debug` shows none of them.
///
/// Hosts without [`Endpoint`](crate::endpoint::Endpoint)s build one directly.
///
/// # Examples
///
/// ```
/// use lms_webhooks::delivery::{SuccessRule, Target};
/// use lms_webhooks::endpoint::UrlPolicy;
/// use lms_webhooks::retry::RetrySchedule;
/// use lms_webhooks::Secret;
///
/// let url = UrlPolicy::new().check("https://crm.example.com/hooks")?;
/// let target = Target::new(url)
///     .with_secret(Secret::generate_standard()?)
///     .with_retry(RetrySchedule::learnybox())
///     .with_success(SuccessRule::Exactly200);
/// assert_eq!(target.url().as_str(), "https://crm.example.com/hooks");
/// assert!(!format!("{target:?}").contains("whsec_"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Target {
    endpoint_id: Option<Arc<str>>,
    url: DeliveryUrl,
    status: EndpointStatus,
    scheme: Scheme,
    secrets: Vec<Secret>,
    #[cfg(feature = "encryption")]
    encryption: Option<EncryptionKey>,
    retry: RetrySchedule,
    success: SuccessRule,
    max_retry_after: Duration,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Target");
        f.field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("status", &self.status)
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len());
        #[cfg(feature = "encryption")]
        f.field("encrypted", &self.encryption.is_some());
        f.field("retry", &self.retry)
            .field("success", &self.success)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

impl Target {
    /// A target at `url` for an active endpoint, signing with Standard Webhooks (add the
    /// secrets), retrying on the Standard Webhooks schedule, any 2xx counting as delivered.
    pub fn new(url: DeliveryUrl) -> Target {
        Target {
            endpoint_id: None,
            url,
            status: EndpointStatus::Active,
            scheme: Scheme::standard(),
            secrets: Vec::new(),
            #[cfg(feature = "encryption")]
            encryption: None,
            retry: RetrySchedule::standard_webhooks(),
            success: SuccessRule::Any2xx,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// Names the endpoint: a delivery for another endpoint is then refused.
    #[must_use]
    pub fn with_endpoint_id(mut self, id: impl Into<Arc<str>>) -> Target {
        self.endpoint_id = Some(id.into());
        self
    }

    /// Sets the endpoint's status: `Paused` and `Failed` hold deliveries, `Disabled` ends them.
    #[must_use]
    pub fn with_status(mut self, status: EndpointStatus) -> Target {
        self.status = status;
        self
    }

    /// Sets the signature scheme.
    #[must_use]
    pub fn with_scheme(mut self, scheme: impl Into<Scheme>) -> Target {
        self.scheme = scheme.into();
        self
    }

    /// Adds a signing secret (the first added signs alone for body HMAC and token schemes;
    /// Standard Webhooks signs with each).
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Target {
        self.secrets.push(secret);
        self
    }

    /// Replaces the signing secrets.
    #[must_use]
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = Secret>) -> Target {
        self.secrets = secrets.into_iter().collect();
        self
    }

    /// Encrypts bodies with `key` before signing.
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    #[must_use]
    pub fn with_encryption(mut self, key: EncryptionKey) -> Target {
        self.encryption = Some(key);
        self
    }

    /// Sets the retry schedule.
    #[must_use]
    pub fn with_retry(mut self, schedule: RetrySchedule) -> Target {
        self.retry = schedule;
        self
    }

    /// Sets the success rule.
    #[must_use]
    pub fn with_success(mut self, rule: SuccessRule) -> Target {
        self.success = rule;
        self
    }

    /// Sets the longest `Retry-After` honoured (longer ones are cut to it).
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Target {
        self.max_retry_after = max;
        self
    }

    /// The endpoint's id, if named.
    pub fn endpoint_id(&self) -> Option<&str> {
        self.endpoint_id.as_deref()
    }

    /// The delivery URL.
    pub fn url(&self) -> &DeliveryUrl {
        &self.url
    }

    /// The endpoint's status.
    pub fn status(&self) -> EndpointStatus {
        self.status
    }

    /// The signature scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The signing secrets: the current one first, then those still in a rotation's grace.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// The encryption key, if bodies are encrypted.
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    pub fn encryption(&self) -> Option<&EncryptionKey> {
        self.encryption.as_ref()
    }

    /// The retry schedule.
    pub fn retry(&self) -> &RetrySchedule {
        &self.retry
    }

    /// The success rule.
    pub fn success(&self) -> SuccessRule {
        self.success
    }

    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }
}
