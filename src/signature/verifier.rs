//! The receiver's side: a [`Verifier`] (scheme, accepted secrets, [`Tolerance`]) and what a
//! successful check established ([`Verified`]).

use std::time::Duration;

use super::{HeaderLookup, Scheme, VerifyError};
use crate::{Secret, Timestamp};

/// How far a signature timestamp may be from the receiver's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tolerance {
    /// At most this far in the past or the future.
    Within(Duration),
    /// Do not check the timestamp: only for replaying requests stored earlier, on purpose.
    Ignore,
}

impl Tolerance {
    /// Five minutes either way, as the Standard Webhooks specification recommends.
    pub const DEFAULT: Tolerance = Tolerance::Within(Duration::from_secs(5 * 60));
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance::DEFAULT
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Which of the given secrets matched (0 is the first): during a rotation, tells whether
    /// senders still use the old one.
    pub secret_index: usize,
    /// The signed message id (Standard Webhooks only).
    pub id: Option<String>,
    /// The signed delivery time (Standard Webhooks only).
    pub timestamp: Option<Timestamp>,
}

/// A receiver's verification settings: a scheme, the accepted secrets and the tolerance.
///
/// # Examples
///
/// During a rotation, accept both secrets and watch which one senders use:
///
/// ```
/// use lms_webhooks::signature::Message;
/// use lms_webhooks::{Scheme, Secret, Timestamp, Tolerance, Verifier, VerifyError};
///
/// let (old, new) = (Secret::generate_standard()?, Secret::generate_standard()?);
/// let now = Timestamp::from_unix(1_800_000_000)?;
/// let headers = Scheme::standard().sign(&[new.clone()], &Message::new("evt_1", now, b"{}"))?;
///
/// let verifier = Verifier::new(Scheme::standard(), [old, new]);
/// assert_eq!(verifier.verify(now, &headers, b"{}")?.secret_index, 1); // the new one
///
/// // An hour later the same request is a replay.
/// let later = Timestamp::from_unix(1_800_003_600)?;
/// assert!(matches!(verifier.verify(later, &headers, b"{}"), Err(VerifyError::TimestampTooOld { .. })));
/// // Unless the tolerance is switched off on purpose (replaying stored requests).
/// assert!(verifier.with_tolerance(Tolerance::Ignore).verify(later, &headers, b"{}").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    secrets: Vec<Secret>,
    tolerance: Tolerance,
}

impl Verifier {
    /// Verifies with `scheme`, accepting any of `secrets`, with the default 5-minute tolerance.
    pub fn new(scheme: impl Into<Scheme>, secrets: impl IntoIterator<Item = Secret>) -> Verifier {
        Verifier {
            scheme: scheme.into(),
            secrets: secrets.into_iter().collect(),
            tolerance: Tolerance::DEFAULT,
        }
    }

    /// Also accepts signatures by `secret` (e.g. the new one during a rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: Secret) -> Verifier {
        self.secrets.push(secret);
        self
    }

    /// Sets the timestamp tolerance.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Tolerance) -> Verifier {
        self.tolerance = tolerance;
        self
    }

    /// The accepted secrets.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// The timestamp tolerance.
    pub fn tolerance(&self) -> Tolerance {
        self.tolerance
    }

    /// Verifies a request against its raw body at `now`.
    pub fn verify<H: HeaderLookup + ?Sized>(
        &self,
        now: Timestamp,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        self.scheme
            .verify(now, &self.secrets, headers, body, self.tolerance)
    }

    /// Verifies at the system clock's current time.
    pub fn verify_now<H: HeaderLookup + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        self.verify(Timestamp::now(), headers, body)
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }
}
