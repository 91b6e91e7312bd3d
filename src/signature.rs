//! Signing and verifying webhook requests: Standard Webhooks v1, body HMAC in hex, and
//! pre-shared tokens.
//!
//! | scheme | headers | what is signed |
//! |---|---|---|
//! | [`StandardWebhooks`] (default) | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (or `svix-*`) | HMAC-SHA256 of `{id}.{timestamp}.{body}` |
//! | [`BodyHmacHex`] | one configurable header, e.g. `X-Learnomy-Signature: <hex>` or `X-Hub-Signature-256: sha256=<hex>` | HMAC-SHA256 of the body |
//! | [`PresharedToken`] | one configurable header, e.g. `Learnworlds-Webhook-Signature: v1=<token>` | nothing: the token is constant |
//!
//! # Verify the raw body
//!
//! Signatures cover the exact bytes that were sent. Verify the body as it came off the wire,
//! before any JSON parsing: parsing and re-serializing changes key order, spacing, number and
//! escape formats (`"é"` vs `"\u00e9"`), and any such change breaks the signature even though
//! the JSON "means" the same. Frameworks that hand you a parsed object must be asked for the
//! raw bytes.
//!
//! # Replay and rotation
//!
//! Standard Webhooks signs the delivery time; a receiver refuses timestamps more than
//! [`Tolerance::DEFAULT`] (5 minutes) away from its clock, either way. While a secret rotates,
//! senders sign with every secret in the set (several `v1,` signatures) and receivers accept a
//! match with any of their secrets.
//!
//! Every comparison of a signature or token is constant-time.
//!
//! # Examples
//!
//! ```
//! use lms_webhooks::signature::{Message, Scheme, Tolerance, Verifier};
//! use lms_webhooks::{Secret, Timestamp};
//!
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let now = Timestamp::from_unix(1_614_265_330)?;
//! let body = br#"{"test": 2432232314}"#;
//!
//! // Sender
//! let scheme = Scheme::standard();
//! let headers = scheme.sign(&[secret.clone()], &Message::new("msg_p5jXN8AQM9LWM0D4loKWxJek", now, body))?;
//! assert_eq!(headers["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//!
//! // Receiver
//! let verifier = Verifier::new(scheme, [secret]);
//! let verified = verifier.verify(&headers, body, now)?;
//! assert_eq!(verified.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{Secret, Timestamp};

type HmacSha256 = Hmac<Sha256>;

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

/// Where to read request headers from: an [`http::HeaderMap`], a slice or vector of name/value
/// pairs, or any closure through [`FnHeaders`]. Names are matched ASCII-case-insensitively.
///
/// The trait keeps the verifier usable by code on another `http` version or another framework.
pub trait HeaderLookup {
    /// The first value of the header `name`, if present. `name.as_str()` is lower case.
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>>;
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
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
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k.as_ref().trim().eq_ignore_ascii_case(name.as_str()))
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
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
/// let name = http::HeaderName::from_static("webhook-id");
/// assert_eq!(lookup.header(&name).as_deref(), Some("msg_1"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FnHeaders<F>(pub F);

impl<F: Fn(&str) -> Option<String>> HeaderLookup for FnHeaders<F> {
    fn header(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        (self.0)(name.as_str()).map(Cow::Owned)
    }
}

/// What a sender signs: the message id, the delivery time and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The message (event) id, stable across retries.
    pub id: &'a str,
    /// The delivery time of this attempt.
    pub timestamp: Timestamp,
    /// The exact body bytes that will be sent.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// A message to sign.
    pub fn new(id: &'a str, timestamp: Timestamp, body: &'a [u8]) -> Message<'a> {
        Message {
            id,
            timestamp,
            body,
        }
    }
}

/// Standard Webhooks v1 (the default scheme), with `webhook-` or `svix-` header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardWebhooks {
    prefix: HeaderPrefix,
}

/// The header names a [`StandardWebhooks`] sender uses; receivers accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderPrefix {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature` (Svix, LearnInk).
    Svix,
}

impl HeaderPrefix {
    /// The id, timestamp and signature header names (built at compile time).
    fn names(self) -> [HeaderName; 3] {
        const WEBHOOK: [HeaderName; 3] = [
            HeaderName::from_static(WEBHOOK_ID),
            HeaderName::from_static(WEBHOOK_TIMESTAMP),
            HeaderName::from_static(WEBHOOK_SIGNATURE),
        ];
        const SVIX: [HeaderName; 3] = [
            HeaderName::from_static("svix-id"),
            HeaderName::from_static("svix-timestamp"),
            HeaderName::from_static("svix-signature"),
        ];
        match self {
            HeaderPrefix::Webhook => WEBHOOK,
            HeaderPrefix::Svix => SVIX,
        }
    }

    fn other(self) -> HeaderPrefix {
        match self {
            HeaderPrefix::Webhook => HeaderPrefix::Svix,
            HeaderPrefix::Svix => HeaderPrefix::Webhook,
        }
    }
}

impl StandardWebhooks {
    /// `webhook-*` headers.
    pub fn new() -> StandardWebhooks {
        StandardWebhooks {
            prefix: HeaderPrefix::Webhook,
        }
    }

    /// `svix-*` headers, as Svix and LearnInk send them.
    pub fn svix() -> StandardWebhooks {
        StandardWebhooks {
            prefix: HeaderPrefix::Svix,
        }
    }

    /// The header names this sender writes.
    pub fn prefix(&self) -> HeaderPrefix {
        self.prefix
    }
}

impl Default for StandardWebhooks {
    fn default() -> StandardWebhooks {
        StandardWebhooks::new()
    }
}

/// HMAC-SHA256 of the raw body, hex-encoded in one header, with an optional value prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyHmacHex {
    header: HeaderName,
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
    pub fn value_prefix(mut self, prefix: impl Into<String>) -> BodyHmacHex {
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
        BodyHmacHex::new(HeaderName::from_static(X_HUB_SIGNATURE_256)).value_prefix("sha256=")
    }

    /// The header carrying the digest.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

/// A constant pre-shared token in one header, compared in constant time.
///
/// **Weak by nature**: the token does not depend on the body or the time, so anyone who sees
/// one request (a log, a proxy) can forge any other, and replays cannot be detected. Use it only
/// where a platform offers nothing else (LearnWorlds), and prefer [`StandardWebhooks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresharedToken {
    header: HeaderName,
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

/// A signature scheme: how a sender signs and how a receiver verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Standard Webhooks v1.
    StandardWebhooks(StandardWebhooks),
    /// HMAC-SHA256 of the body, in hex.
    BodyHmacHex(BodyHmacHex),
    /// A pre-shared token (weak; see [`PresharedToken`]).
    PresharedToken(PresharedToken),
}

impl Default for Scheme {
    fn default() -> Scheme {
        Scheme::standard()
    }
}

impl From<StandardWebhooks> for Scheme {
    fn from(s: StandardWebhooks) -> Scheme {
        Scheme::StandardWebhooks(s)
    }
}

impl From<BodyHmacHex> for Scheme {
    fn from(s: BodyHmacHex) -> Scheme {
        Scheme::BodyHmacHex(s)
    }
}

impl From<PresharedToken> for Scheme {
    fn from(s: PresharedToken) -> Scheme {
        Scheme::PresharedToken(s)
    }
}

/// The serialized form of a [`Scheme`], with header names as text.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum SchemeRepr {
    StandardWebhooks {
        #[serde(default)]
        svix: bool,
    },
    BodyHmacHex {
        header: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        value_prefix: String,
    },
    PresharedToken {
        header: String,
    },
}

impl serde::Serialize for Scheme {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scheme::StandardWebhooks(s) => SchemeRepr::StandardWebhooks {
                svix: s.prefix == HeaderPrefix::Svix,
            },
            Scheme::BodyHmacHex(s) => SchemeRepr::BodyHmacHex {
                header: s.header.as_str().to_owned(),
                value_prefix: s.value_prefix.clone(),
            },
            Scheme::PresharedToken(s) => SchemeRepr::PresharedToken {
                header: s.header.as_str().to_owned(),
            },
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Scheme {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scheme, D::Error> {
        use serde::de::Error;
        let header = |name: &str| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| D::Error::custom(format!("`{name}` is not a valid header name")))
        };
        Ok(match SchemeRepr::deserialize(deserializer)? {
            SchemeRepr::StandardWebhooks { svix: false } => StandardWebhooks::new().into(),
            SchemeRepr::StandardWebhooks { svix: true } => StandardWebhooks::svix().into(),
            SchemeRepr::BodyHmacHex {
                header: name,
                value_prefix,
            } => BodyHmacHex::new(header(&name)?)
                .value_prefix(value_prefix)
                .into(),
            SchemeRepr::PresharedToken { header: name } => {
                PresharedToken::new(header(&name)?).into()
            }
        })
    }
}

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

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No secret was given.
    #[error("no secret to sign with")]
    NoSecret,
    /// The Standard Webhooks message id is empty or starts or ends with whitespace, which
    /// HTTP strips: the receiver would verify another id than the one signed.
    #[error("the message id must be non-empty, without leading or trailing whitespace")]
    InvalidId,
    /// A header value would hold characters HTTP does not allow (e.g. a line break in an id or
    /// token).
    #[error("the `{header}` header value would hold characters HTTP does not allow")]
    InvalidHeaderValue {
        /// The header.
        header: String,
    },
}

/// Why a request was not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("the `{header}` header is missing")]
    MissingHeader {
        /// The header.
        header: String,
    },
    /// A header is present but unreadable.
    #[error("the `{header}` header is malformed: {reason}")]
    MalformedHeader {
        /// The header.
        header: String,
        /// What is wrong.
        reason: String,
    },
    /// The signature header holds no `v1,` signature.
    #[error("the `{header}` header holds no `v1,` signature")]
    NoV1Signature {
        /// The header.
        header: String,
    },
    /// No signature matches any of the secrets: wrong secret, or a forged or altered request.
    #[error("the signature does not match (wrong secret, or the body was altered)")]
    Mismatch,
    /// The signature timestamp is older than the tolerance: a late or replayed request.
    #[error(
        "the signature timestamp is {age_secs} s old; at most {tolerance_secs} s are accepted"
    )]
    TimestampTooOld {
        /// How old it is, in seconds.
        age_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The signature timestamp is further in the future than the tolerance.
    #[error("the signature timestamp is {ahead_secs} s in the future; at most {tolerance_secs} s are accepted")]
    TimestampTooNew {
        /// How far ahead it is, in seconds.
        ahead_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// No usable secret was given.
    #[error("no secret to verify with")]
    NoSecret,
}

impl Scheme {
    /// Standard Webhooks v1 with `webhook-*` headers.
    pub fn standard() -> Scheme {
        Scheme::StandardWebhooks(StandardWebhooks::new())
    }

    /// Signs a message with every secret (Standard Webhooks: one `v1,` signature per secret,
    /// for rotation) or the first secret (body HMAC, token), and returns the headers to add.
    pub fn sign(&self, secrets: &[Secret], message: &Message<'_>) -> Result<HeaderMap, SignError> {
        let mut headers = HeaderMap::with_capacity(3);
        self.sign_into(secrets, message, &mut headers)?;
        Ok(headers)
    }

    /// Like [`Scheme::sign`], but inserts the headers into an existing map (a request's), which
    /// saves building a map per message. Headers of the same names are replaced.
    pub fn sign_into(
        &self,
        secrets: &[Secret],
        message: &Message<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), SignError> {
        let value = self.signature_value(secrets, message)?;
        let signature_header = match self {
            Scheme::StandardWebhooks(s) => {
                let [id_name, ts_name, sig_name] = s.prefix.names();
                insert(headers, id_name, message.id.as_bytes().to_vec())?;
                headers.insert(ts_name, HeaderValue::from(message.timestamp.unix()));
                sig_name
            }
            Scheme::BodyHmacHex(s) => s.header.clone(),
            Scheme::PresharedToken(s) => s.header.clone(),
        };
        insert(headers, signature_header, value.into_bytes())
    }

    /// The signature header's value alone: `v1,<base64>[ v1,<base64>...]`, the (prefixed) hex
    /// digest, or the token. For hosts that build requests with another HTTP library; the
    /// Standard Webhooks id and timestamp headers are `message.id` and
    /// `message.timestamp.unix()`.
    pub fn signature_value(
        &self,
        secrets: &[Secret],
        message: &Message<'_>,
    ) -> Result<String, SignError> {
        let first = secrets.first().ok_or(SignError::NoSecret)?;
        Ok(match self {
            Scheme::StandardWebhooks(_) => {
                if message.id.is_empty() || message.id.trim() != message.id {
                    return Err(SignError::InvalidId);
                }
                let ts = message.timestamp.unix();
                let mut value = String::with_capacity(secrets.len() * 48);
                for secret in secrets {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str("v1,");
                    push_base64_tag(
                        &mut value,
                        &standard_mac(secret, message.id, ts, message.body),
                    );
                }
                value
            }
            Scheme::BodyHmacHex(s) => {
                let mut value = String::with_capacity(s.value_prefix.len() + 64);
                value.push_str(&s.value_prefix);
                push_hex(&mut value, &body_mac(first, message.body));
                value
            }
            Scheme::PresharedToken(_) => first.expose_text().as_str().to_owned(),
        })
    }

    /// Verifies a request's headers against its raw body, accepting a match with any secret.
    ///
    /// For Standard Webhooks the timestamp is checked first (cheap, and it stops replays before
    /// any HMAC work), then the signatures; `now` is the receiver's clock.
    pub fn verify<H: HeaderLookup + ?Sized>(
        &self,
        secrets: &[Secret],
        headers: &H,
        body: &[u8],
        now: Timestamp,
        tolerance: Tolerance,
    ) -> Result<Verified, VerifyError> {
        if secrets.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        // Body HMAC and token schemes establish only which secret matched.
        let index = match self {
            Scheme::StandardWebhooks(s) => {
                return verify_standard(s, secrets, headers, body, now, tolerance)
            }
            Scheme::BodyHmacHex(s) => {
                let value = required(headers, &s.header)?;
                let name = s.header.as_str();
                let digest = value
                    .trim()
                    .strip_prefix(s.value_prefix.as_str())
                    .ok_or_else(|| {
                        malformed(name, format!("expected the prefix `{}`", s.value_prefix))
                    })?;
                let mut given = [0u8; 32];
                decode_hex(digest, &mut given)
                    .ok_or_else(|| malformed(name, "expected 64 hexadecimal digits".to_owned()))?;
                secrets
                    .iter()
                    .position(|secret| tag_eq(&body_mac(secret, body), &given))
            }
            Scheme::PresharedToken(s) => {
                let value = required(headers, &s.header)?;
                let given = value.trim().as_bytes();
                secrets
                    .iter()
                    .position(|secret| bool::from(secret.expose_text().as_bytes().ct_eq(given)))
            }
        };
        Ok(Verified {
            secret_index: index.ok_or(VerifyError::Mismatch)?,
            id: None,
            timestamp: None,
        })
    }
}

fn verify_standard<H: HeaderLookup + ?Sized>(
    scheme: &StandardWebhooks,
    secrets: &[Secret],
    headers: &H,
    body: &[u8],
    now: Timestamp,
    tolerance: Tolerance,
) -> Result<Verified, VerifyError> {
    // Accept either header family: the configured one first.
    let mut names = scheme.prefix.names();
    let id = match headers.header(&names[0]) {
        Some(id) => id,
        None => {
            let other = scheme.prefix.other().names();
            match headers.header(&other[0]) {
                Some(id) => {
                    names = other;
                    id
                }
                None => return Err(missing(&names[0])),
            }
        }
    };
    let [id_name, ts_name, sig_name] = &names;
    let id = id.trim();
    if id.is_empty() {
        return Err(malformed(id_name.as_str(), "it is empty".to_owned()));
    }
    let ts_text = required(headers, ts_name)?;
    let ts = parse_unix_seconds(ts_text.trim()).ok_or_else(|| {
        malformed(
            ts_name.as_str(),
            "expected Unix seconds, e.g. 1700000000".to_owned(),
        )
    })?;
    if let Tolerance::Within(limit) = tolerance {
        let limit_secs = limit.as_secs();
        let diff = i128::from(now.unix()) - i128::from(ts);
        if diff > i128::from(limit_secs) {
            return Err(VerifyError::TimestampTooOld {
                age_secs: u64::try_from(diff).unwrap_or(u64::MAX),
                tolerance_secs: limit_secs,
            });
        }
        if -diff > i128::from(limit_secs) {
            return Err(VerifyError::TimestampTooNew {
                ahead_secs: u64::try_from(-diff).unwrap_or(u64::MAX),
                tolerance_secs: limit_secs,
            });
        }
    }
    let signatures = required(headers, sig_name)?;

    let mut saw_v1 = false;
    // Secrets outside, signatures inside: one HMAC per secret, and no allocation.
    for (index, secret) in secrets.iter().enumerate() {
        let expected = standard_mac(secret, id, ts, body);
        for entry in signatures.split(' ') {
            let Some(("v1", encoded)) = entry.split_once(',') else {
                continue;
            };
            saw_v1 = true;
            // A signature of the wrong length or alphabet is simply one that does not match.
            let Some(given) = decode_base64_tag(encoded) else {
                continue;
            };
            if tag_eq(&expected, &given) {
                return Ok(Verified {
                    secret_index: index,
                    id: Some(id.to_owned()),
                    timestamp: Timestamp::from_unix(ts).ok(),
                });
            }
        }
    }
    if saw_v1 {
        Err(VerifyError::Mismatch)
    } else {
        Err(VerifyError::NoV1Signature {
            header: sig_name.as_str().to_owned(),
        })
    }
}

/// A receiver's verification settings: a scheme, the accepted secrets and the tolerance.
///
/// See the [module docs](self) for an example.
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

    /// Sets the timestamp tolerance.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Tolerance) -> Verifier {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a request against its raw body at `now`.
    pub fn verify<H: HeaderLookup + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Verified, VerifyError> {
        self.scheme
            .verify(&self.secrets, headers, body, now, self.tolerance)
    }

    /// Verifies at the system clock's current time.
    pub fn verify_now<H: HeaderLookup + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        self.verify(headers, body, Timestamp::now())
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }
}

fn finish(mac: HmacSha256) -> [u8; 32] {
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 over `{id}.{ts}.{body}`, fed in parts: the signed content is never copied.
pub(crate) fn standard_mac(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let mut mac = secret.hmac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(format_i64(ts, &mut digits));
    mac.update(b".");
    mac.update(body);
    finish(mac)
}

/// HMAC-SHA256 over the body alone.
pub(crate) fn body_mac(secret: &Secret, body: &[u8]) -> [u8; 32] {
    let mut mac = secret.hmac();
    mac.update(body);
    finish(mac)
}

/// Writes `n` in decimal into `buf` without allocating; returns the digits.
fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut value = n.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    if n < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

/// Unix seconds as Standard Webhooks sends them: ASCII digits only, no sign, no spaces.
fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 {
        return None;
    }
    // 18 digits cannot overflow an i64.
    text.bytes().try_fold(0i64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The standard-alphabet base64 of a 32-byte tag (44 characters, one `=`), appended to `out`.
///
/// Written out for the one size signatures have: it is on every request's hot path.
fn push_base64_tag(out: &mut String, tag: &[u8; 32]) {
    let mut text = [b'='; 44];
    let sextet = |v: u32, shift: u32| B64[((v >> shift) & 63) as usize];
    for (chars, bytes) in text.chunks_exact_mut(4).zip(tag.chunks(3)) {
        let v = bytes
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        chars[0] = sextet(v, 18);
        chars[1] = sextet(v, 12);
        chars[2] = sextet(v, 6);
        if bytes.len() == 3 {
            chars[3] = sextet(v, 0);
        }
        // 32 = 10 × 3 + 2: the last group holds two bytes and keeps its `=`.
    }
    // The alphabet and `=` are ASCII: always one valid `str`.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Decodes exactly the 44-character canonical base64 of a 32-byte tag; anything else is `None`.
fn decode_base64_tag(text: &str) -> Option<[u8; 32]> {
    const INVALID: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 64 {
            table[B64[i] as usize] = i as u8;
            i += 1;
        }
        table
    };
    let bytes = text.as_bytes();
    let (body, pad) = bytes.split_at_checked(43)?;
    if pad != b"=" {
        return None;
    }
    // Four characters make three bytes: ten groups, then three characters for the last two
    // bytes. Invalid characters map to 0xff; one check at the end catches any of them.
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    let sextet = |c: u8, bad: &mut u8| {
        let v = TABLE[usize::from(c)];
        *bad |= v;
        u32::from(v)
    };
    for (group, chars) in out.chunks_exact_mut(3).zip(body.chunks_exact(4)) {
        let v = sextet(chars[0], &mut bad) << 18
            | sextet(chars[1], &mut bad) << 12
            | sextet(chars[2], &mut bad) << 6
            | sextet(chars[3], &mut bad);
        group.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    let v = sextet(body[40], &mut bad) << 12
        | sextet(body[41], &mut bad) << 6
        | sextet(body[42], &mut bad);
    // 43 × 6 = 258 bits: the last two, which a canonical encoding leaves at zero, must be.
    out[30] = (v >> 10) as u8;
    out[31] = (v >> 2) as u8;
    (bad & 0xc0 == 0 && v & 3 == 0).then_some(out)
}

/// Constant-time equality of two 32-byte tags: `subtle` over four 64-bit words (the same
/// guarantee as byte by byte, with a quarter of the optimization barriers).
pub(crate) fn tag_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let words = |tag: &[u8; 32]| {
        let mut words = [0u64; 4];
        for (word, bytes) in words.iter_mut().zip(tag.chunks_exact(8)) {
            *word = u64::from_ne_bytes(bytes.try_into().unwrap_or_default());
        }
        words
    };
    bool::from(words(a).ct_eq(&words(b)))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// Decodes exactly `out.len() * 2` hex digits (either case) into `out`.
pub(crate) fn decode_hex(text: &str, out: &mut [u8]) -> Option<()> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn required<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    name: &HeaderName,
) -> Result<Cow<'h, str>, VerifyError> {
    headers.header(name).ok_or_else(|| missing(name))
}

fn missing(name: &HeaderName) -> VerifyError {
    VerifyError::MissingHeader {
        header: name.as_str().to_owned(),
    }
}

fn malformed(header: &str, reason: String) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_owned(),
        reason,
    }
}

/// Inserts a header, taking the value's buffer without copying it.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: Vec<u8>) -> Result<(), SignError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_integers_like_display() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 1_614_265_330, -1, i64::MIN, i64::MAX] {
            assert_eq!(format_i64(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn hex_round_trip_and_rejections() {
        let mut s = String::new();
        push_hex(&mut s, &[0x00, 0xab, 0xff]);
        assert_eq!(s, "00abff");
        let mut out = [0u8; 3];
        assert_eq!(decode_hex("00ABff", &mut out), Some(()));
        assert_eq!(out, [0x00, 0xab, 0xff]);
        assert_eq!(decode_hex("00abf", &mut out), None);
        assert_eq!(decode_hex("00abfg", &mut out), None);
        assert_eq!(decode_hex("é0abff", &mut out), None);
    }

    #[test]
    fn base64_tags_match_the_base64_crate() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        for seed in 0u8..=255 {
            let tag: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7));
            let mut ours = String::new();
            push_base64_tag(&mut ours, &tag);
            assert_eq!(ours, STANDARD.encode(tag));
            assert_eq!(decode_base64_tag(&ours), Some(tag));
        }
        let good = STANDARD.encode([0xabu8; 32]);
        // Wrong length, missing padding, bad alphabet, non-canonical trailing bits.
        assert_eq!(decode_base64_tag(&good[..43]), None);
        assert_eq!(decode_base64_tag(&format!("{good}=")), None);
        assert_eq!(decode_base64_tag(&good.replace('q', "-")), None);
        let mut last = good.clone().into_bytes();
        last[42] = b'v'; // sets a trailing bit that carries no data
        assert_eq!(decode_base64_tag(std::str::from_utf8(&last).unwrap()), None);
        assert_eq!(decode_base64_tag("é"), None);
        assert_eq!(decode_base64_tag(""), None);
    }

    proptest::proptest! {
        /// Any 44 characters: the tag decoder agrees with the `base64` crate's strict decoder.
        #[test]
        fn base64_tag_decoding_agrees_with_the_base64_crate(
            text in "[A-Za-z0-9+/]{42}[A-Za-z0-9+/=-][=]|.{0,46}",
            tag in proptest::array::uniform32(proptest::prelude::any::<u8>()),
        ) {
            use base64::engine::general_purpose::STANDARD;
            use base64::Engine as _;
            let expected = STANDARD
                .decode(&text)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
            proptest::prop_assert_eq!(decode_base64_tag(&text), expected);
            let mut encoded = String::new();
            push_base64_tag(&mut encoded, &tag);
            proptest::prop_assert_eq!(decode_base64_tag(&encoded), Some(tag));
        }

        #[test]
        fn tag_equality_is_equality(
            a in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            flip in 0usize..256,
        ) {
            proptest::prop_assert!(tag_eq(&a, &a));
            let mut b = a;
            b[flip / 8] ^= 1 << (flip % 8);
            proptest::prop_assert!(!tag_eq(&a, &b));
        }
    }

    #[test]
    fn unix_seconds_are_digits_only() {
        assert_eq!(parse_unix_seconds("1614265330"), Some(1_614_265_330));
        for bad in ["", "-5", "+5", " 5", "1.5", "1e9", "99999999999999999999"] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
    }
}
