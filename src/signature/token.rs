//! Pre-shared tokens: a constant value in one header (LearnWorlds), compared in constant time.

use http::header::HeaderName;
use sha2::{Digest, Sha256};

use super::headers::{required, LEARNWORLDS_WEBHOOK_SIGNATURE};
use super::{HeaderLookup, VerifyError};
use crate::codec::tag_eq;
use crate::Secret;

/// A constant pre-shared token in one header, compared in constant time.
///
/// **Weak by nature**: the token does not depend on the body or the time, so anyone who sees
/// one request (a log, a proxy) can forge any other, and replays cannot be detected. Use it only
/// where a platform offers nothing else (LearnWorlds), and prefer [`StandardWebhooks`](super::StandardWebhooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresharedToken {
    pub(super) header: HeaderName,
}

impl PresharedToken {
    /// The token in `header`; the secret is the whole header value.
    pub fn new(header: HeaderName) -> PresharedToken {
        PresharedToken { header }
    }

    /// LearnWorlds: `Learnworlds-Webhook-Signature: v1=<value>` (the secret is `v1=<value>`).
    pub fn learnworlds() -> PresharedToken {
        PresharedToken::new(HeaderName::from_static(LEARNWORLDS_WEBHOOK_SIGNATURE))
    }

    /// The header carrying the token.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

impl PresharedToken {
    /// Which of `secrets` the header carries, if any.
    ///
    /// Both sides are hashed first and the digests compared in constant time, so that neither
    /// the comparison nor an early length check tells an attacker how long the token is.
    pub(super) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[Secret],
        headers: &H,
    ) -> Result<Option<usize>, VerifyError> {
        let value = required(headers, &self.header)?;
        let given: [u8; 32] = Sha256::digest(value.trim().as_bytes()).into();
        Ok(secrets.iter().position(|secret| {
            let expected: [u8; 32] = Sha256::digest(secret.expose_text().as_bytes()).into();
            tag_eq(&expected, &given)
        }))
    }
}
