//! Body HMAC in hex: `hex(HMAC-SHA256(secret, body))` in one header, with an optional value
//! prefix (Learnomy, Thinkific, GitHub's `sha256=`).

use hmac::Mac;
use http::header::HeaderName;

use super::headers::{
    malformed, required, X_HUB_SIGNATURE_256, X_LEARNOMY_SIGNATURE, X_THINKIFIC_HMAC_SHA256,
};
use super::{finish, HeaderLookup, VerifyError};
use crate::codec::{decode_hex, push_hex, tag_eq};
use crate::Secret;

/// HMAC-SHA256 of the raw body, hex-encoded in one header, with an optional value prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyHmacHex {
    pub(super) header: HeaderName,
    value_prefix: String,
}

impl BodyHmacHex {
    /// The body HMAC in `header`, without a value prefix.
    pub fn new(header: HeaderName) -> BodyHmacHex {
        BodyHmacHex {
            header,
            value_prefix: String::new(),
        }
    }

    /// Puts `prefix` before the hex digest (GitHub: `sha256=`); receivers require it.
    #[must_use]
    pub fn with_value_prefix(mut self, prefix: impl Into<String>) -> BodyHmacHex {
        self.value_prefix = prefix.into();
        self
    }

    /// Learnomy: `X-Learnomy-Signature: <hex>`.
    pub fn learnomy() -> BodyHmacHex {
        BodyHmacHex::new(HeaderName::from_static(X_LEARNOMY_SIGNATURE))
    }

    /// Thinkific: `X-Thinkific-Hmac-Sha256: <hex>`.
    pub fn thinkific() -> BodyHmacHex {
        BodyHmacHex::new(HeaderName::from_static(X_THINKIFIC_HMAC_SHA256))
    }

    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`.
    pub fn github() -> BodyHmacHex {
        BodyHmacHex::new(HeaderName::from_static(X_HUB_SIGNATURE_256)).with_value_prefix("sha256=")
    }

    /// The header carrying the digest.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

impl BodyHmacHex {
    /// The header value for `body`, signed with `secret`.
    pub(super) fn signature_value(&self, secret: &Secret, body: &[u8]) -> String {
        let mut value = String::with_capacity(self.value_prefix.len() + 64);
        value.push_str(&self.value_prefix);
        push_hex(&mut value, &mac(secret, body));
        value
    }

    /// Which of `secrets` signed `body`, if any.
    pub(super) fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[Secret],
        headers: &H,
        body: &[u8],
    ) -> Result<Option<usize>, VerifyError> {
        let value = required(headers, &self.header)?;
        let name = self.header.as_str();
        let digest = value
            .trim()
            .strip_prefix(self.value_prefix.as_str())
            .ok_or_else(|| {
                malformed(name, format!("expected the prefix `{}`", self.value_prefix))
            })?;
        let mut given = [0u8; 32];
        decode_hex(digest, &mut given)
            .ok_or_else(|| malformed(name, "expected 64 hexadecimal digits".to_owned()))?;
        Ok(secrets
            .iter()
            .position(|secret| tag_eq(&mac(secret, body), &given)))
    }

    /// The value prefix (empty for none).
    pub(super) fn prefix_text(&self) -> &str {
        &self.value_prefix
    }
}

/// HMAC-SHA256 over the body alone.
fn mac(secret: &Secret, body: &[u8]) -> [u8; 32] {
    let mut mac = secret.hmac();
    mac.update(body);
    finish(mac)
}
