//! Where headers come from ([`HeaderLookup`]), the header names of every scheme, and the
//! helpers that read and write them.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{SignError, VerifyError};

/// `webhook-id`: the message id, stable across retries.
pub const WEBHOOK_ID: &str = "webhook-id";
/// `webhook-timestamp`: the delivery time in Unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// `webhook-signature`: space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// Learnomy's body HMAC header.
pub const X_LEARNOMY_SIGNATURE: &str = "x-learnomy-signature";
/// Thinkific's body HMAC header.
pub const X_THINKIFIC_HMAC_SHA256: &str = "x-thinkific-hmac-sha256";
/// GitHub's body HMAC header (values prefixed `sha256=`).
pub const X_HUB_SIGNATURE_256: &str = "x-hub-signature-256";
/// LearnWorlds' pre-shared token header.
pub const LEARNWORLDS_WEBHOOK_SIGNATURE: &str = "learnworlds-webhook-signature";

/// Where to read request headers from: an [`http::HeaderMap`](https://docs.rs/http/1/http/header/struct.HeaderMap.html), a slice or vector of name/value
/// pairs, or any closure through [`FnHeaders`]. Names are matched ASCII-case-insensitively.
///
/// The trait takes names as `&str`, so that code on another `http` version or another
/// framework can implement it without depending on this crate's `http`.
pub trait HeaderLookup {
    /// The first value of the header `name`, if present. `name` is in lower case.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        // Signature headers are visible ASCII; anything else is read lossily and will not
        // match. (UTF-8 validation is the fast check here: `HeaderValue` already refused
        // control characters.)
        let bytes = self.get(name)?.as_bytes();
        Some(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        })
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k.as_ref().trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).header(name)
    }
}

/// Adapts a closure `Fn(&str) -> Option<String>` into a [`HeaderLookup`]; the closure gets the
/// lower-case header name.
///
/// ```
/// use lms_webhooks::signature::{FnHeaders, HeaderLookup};
///
/// let lookup = FnHeaders(|name: &str| (name == "webhook-id").then(|| "msg_1".to_owned()));
/// assert_eq!(lookup.header("webhook-id").as_deref(), Some("msg_1"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FnHeaders<F>(pub F);

impl<F: Fn(&str) -> Option<String>> HeaderLookup for FnHeaders<F> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        (self.0)(name).map(Cow::Owned)
    }
}

/// The header `name`, or the error naming it.
pub(super) fn required<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    name: &HeaderName,
) -> Result<Cow<'h, str>, VerifyError> {
    headers.header(name.as_str()).ok_or_else(|| missing(name))
}

pub(super) fn missing(name: &HeaderName) -> VerifyError {
    VerifyError::MissingHeader {
        header: name.as_str().to_owned(),
    }
}

pub(super) fn malformed(header: &str, reason: String) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_owned(),
        reason,
    }
}

/// Inserts a header, taking the value's buffer without copying it.
pub(super) fn insert(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: Vec<u8>,
) -> Result<(), SignError> {
    match HeaderValue::try_from(value) {
        Ok(value) => {
            headers.insert(name, value);
            Ok(())
        }
        Err(_) => Err(SignError::InvalidHeaderValue {
            header: name.as_str().to_owned(),
        }),
    }
}
