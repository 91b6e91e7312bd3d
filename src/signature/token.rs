//! Pre-shared tokens: a constant value in one header (LearnWorlds), compared in constant time.

use http::header::HeaderName;
use sha2::{Digest, Sha256};

use super::headers::{malformed, required, LEARNWORLDS_WEBHOOK_SIGNATURE};
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

    /// LearnWorlds: `Learnworlds-Webhook-Signature: v1=<value>`. The secret is the signature
    /// LearnWorlds shows (`v1=<value>`; written without `v1=`, it is the same token). A value
    /// without `v1=` in this header is refused as malformed, saying so.
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
        let header = required(headers, &self.header)?;
        let value = match self.versioned() {
            false => header.trim(),
            true => header.trim().strip_prefix(VERSION).ok_or_else(|| {
                malformed(
                    self.header.as_str(),
                    "expected `v1=` followed by the token, as LearnWorlds sends it".to_owned(),
                )
            })?,
        };
        let given: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        Ok(secrets.iter().position(|secret| {
            let text = secret.expose_text();
            let token = match self.versioned() {
                true => text.strip_prefix(VERSION).unwrap_or(&text),
                false => &text,
            };
            let expected: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            tag_eq(&expected, &given)
        }))
    }

    /// The header value to send for `secret`: its text, with `v1=` first in LearnWorlds'
    /// header if the secret was written without it.
    pub(super) fn value(&self, secret: &Secret) -> String {
        let text = secret.expose_text();
        match self.versioned() && !text.starts_with(VERSION) {
            true => format!("{VERSION}{}", text.as_str()),
            false => text.as_str().to_owned(),
        }
    }

    /// Whether the value is versioned (`v1=`), as in LearnWorlds' header.
    fn versioned(&self) -> bool {
        self.header.as_str() == LEARNWORLDS_WEBHOOK_SIGNATURE
    }
}

/// The version LearnWorlds writes before its token.
const VERSION: &str = "v1=";
