//! Signing and verifying webhook requests: Standard Webhooks v1 (HMAC) and v1a (Ed25519), body
//! HMAC in hex, and pre-shared tokens.
//!
//! | scheme | headers | what is signed |
//! |---|---|---|
//! | [`StandardWebhooks`] (default) | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` (or `svix-*`) | HMAC-SHA256 of `{id}.{timestamp}.{body}` |
//! | [`StandardWebhooks`] with a `whsk_` key | the same, `webhook-signature: v1a,<base64>` | Ed25519 signature of `{id}.{timestamp}.{body}`; receivers hold the `whpk_` public key |
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
//! let verified = verifier.verify(now, &headers, body)?;
//! assert_eq!(verified.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body_hmac;
mod error;
mod headers;
mod standard;
mod token;
mod verifier;

use hmac::{Hmac, Mac};
use http::header::{HeaderMap, HeaderName};
use sha2::Sha256;

use crate::{Secret, Timestamp};

pub use body_hmac::BodyHmacHex;
pub use error::{SignError, VerifyError};
use headers::insert;
pub use headers::{
    FnHeaders, HeaderLookup, LEARNWORLDS_WEBHOOK_SIGNATURE, WEBHOOK_ID, WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP, X_HUB_SIGNATURE_256, X_LEARNOMY_SIGNATURE, X_THINKIFIC_HMAC_SHA256,
};
pub use standard::{HeaderPrefix, StandardWebhooks};
pub use token::PresharedToken;
pub use verifier::{Tolerance, Verified, Verifier};

type HmacSha256 = Hmac<Sha256>;

#[inline]
fn finish(mac: HmacSha256) -> [u8; 32] {
    mac.finalize().into_bytes().into()
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

/// A signature scheme: how a sender signs and how a receiver verifies.
///
/// # Examples
///
/// ```
/// use lms_webhooks::signature::{BodyHmacHex, Message};
/// use lms_webhooks::{Scheme, Secret, Timestamp};
///
/// // GitHub's form: `X-Hub-Signature-256: sha256=<hex>` over the body alone.
/// let github: Scheme = BodyHmacHex::github().into();
/// let secret = Secret::parse("It's a Secret to Everybody")?;
/// let headers = github.sign(&[secret], &Message::new("unused", Timestamp::now(), b"Hello, World!"))?;
/// assert_eq!(
///     headers["x-hub-signature-256"],
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
                value_prefix: s.prefix_text().to_owned(),
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
                .with_value_prefix(value_prefix)
                .into(),
            SchemeRepr::PresharedToken { header: name } => {
                PresharedToken::new(header(&name)?).into()
            }
        })
    }
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

    /// The header that carries the signature (or, for a pre-shared token, the token): what a
    /// log or a debugging page leaves out when it shows a request's headers.
    ///
    /// ```
    /// use lms_webhooks::Scheme;
    ///
    /// assert_eq!(Scheme::standard().signature_header(), "webhook-signature");
    /// ```
    pub fn signature_header(&self) -> HeaderName {
        match self {
            Scheme::StandardWebhooks(s) => {
                let [_, _, signature] = s.prefix.names();
                signature
            }
            Scheme::BodyHmacHex(s) => s.header.clone(),
            Scheme::PresharedToken(s) => s.header.clone(),
        }
    }

    /// Like [`Scheme::sign`], but inserts the headers into an existing map (a request's), which
    /// saves building a map per message. Headers of the same names are replaced.
    pub fn sign_into(
        &self,
        secrets: &[Secret],
        message: &Message<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), SignError> {
        let value = self.value_bytes(secrets, message)?;
        let signature_header = match self {
            Scheme::StandardWebhooks(s) => {
                let [id_name, ts_name, sig_name] = s.prefix.names();
                insert(headers, id_name, message.id.as_bytes().to_vec())?;
                // Digits on the stack, then one exact-length copy: `HeaderValue::from(i64)`
                // writes into a growable buffer, which costs a second allocation when frozen.
                let mut digits = itoa::Buffer::new();
                let ts = digits.format(message.timestamp.unix());
                insert(headers, ts_name, ts.as_bytes().to_vec())?;
                sig_name
            }
            Scheme::BodyHmacHex(s) => s.header.clone(),
            Scheme::PresharedToken(s) => s.header.clone(),
        };
        insert(headers, signature_header, value)
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
        let value = self.value_bytes(secrets, message)?;
        // Always text: base64 and `v1,` (ASCII), hex, or a token that was a `String`.
        String::from_utf8(value).map_err(|_| SignError::InvalidHeaderValue {
            header: self.signature_header().as_str().to_owned(),
        })
    }

    /// The signature header's value as bytes, what a header value is made of: Standard
    /// Webhooks signatures are written as ASCII bytes, never checked as text on the way.
    fn value_bytes(&self, secrets: &[Secret], message: &Message<'_>) -> Result<Vec<u8>, SignError> {
        let first = secrets.first().ok_or(SignError::NoSecret)?;
        if !matches!(self, Scheme::StandardWebhooks(_)) && first.is_asymmetric() {
            return Err(SignError::UnsupportedKey(
                "Ed25519 keys (whsk_, whpk_) sign Standard Webhooks `v1a` only",
            ));
        }
        Ok(match self {
            Scheme::StandardWebhooks(_) => {
                if message.id.is_empty() || message.id.trim() != message.id {
                    return Err(SignError::InvalidId);
                }
                standard::signature_value(
                    secrets,
                    message.id,
                    message.timestamp.unix(),
                    message.body,
                )?
            }
            Scheme::BodyHmacHex(s) => s.signature_value(first, message.body).into_bytes(),
            Scheme::PresharedToken(s) => s.value(first).into_bytes(),
        })
    }

    /// Whether the headers this scheme verifies are all present: a receiver checks it before
    /// it reads the body, so that a request that cannot verify costs no body read. The first
    /// missing one is named (for Standard Webhooks, as the configured family spells it; either
    /// family is accepted).
    pub fn check_headers<H: HeaderLookup + ?Sized>(&self, headers: &H) -> Result<(), VerifyError> {
        match self {
            Scheme::StandardWebhooks(s) => {
                let svix = standard::HeaderPrefix::Svix.texts();
                let webhook = standard::HeaderPrefix::Webhook.texts();
                for (i, configured) in s.prefix.texts().into_iter().enumerate() {
                    if headers.header(svix[i]).is_none() && headers.header(webhook[i]).is_none() {
                        return Err(headers::missing(configured));
                    }
                }
                Ok(())
            }
            Scheme::BodyHmacHex(BodyHmacHex { header, .. })
            | Scheme::PresharedToken(PresharedToken { header }) => {
                match headers.header(header.as_str()) {
                    Some(_) => Ok(()),
                    None => Err(headers::missing(header.as_str())),
                }
            }
        }
    }

    /// Verifies a request's headers against its raw body, accepting a match with any secret.
    ///
    /// For Standard Webhooks the timestamp is checked first (cheap, and it stops replays before
    /// any HMAC work), then the signatures; `now` is the receiver's clock.
    pub fn verify<H: HeaderLookup + ?Sized>(
        &self,
        now: Timestamp,
        secrets: &[Secret],
        headers: &H,
        body: &[u8],
        tolerance: Tolerance,
    ) -> Result<Verified, VerifyError> {
        if secrets.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        // Body HMAC and token schemes establish only which secret matched.
        let index = match self {
            Scheme::StandardWebhooks(s) => {
                return standard::verify(s, secrets, headers, body, now, tolerance)
            }
            // Ed25519 keys never match these schemes (they are not shared secrets).
            Scheme::BodyHmacHex(s) => s
                .verify(secrets, headers, body)?
                .filter(|&i| !secrets[i].is_asymmetric()),
            Scheme::PresharedToken(s) => {
                let index = s
                    .verify(secrets, headers)?
                    .filter(|&i| !secrets[i].is_asymmetric());
                index.ok_or_else(|| VerifyError::TokenMismatch {
                    header: s.header().as_str().to_owned(),
                })?;
                index
            }
        };
        Ok(Verified {
            secret_index: index.ok_or(VerifyError::Mismatch)?,
            id: None,
            timestamp: None,
        })
    }
}
