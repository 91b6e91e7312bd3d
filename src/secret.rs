//! Signing secrets: generation from the OS CSPRNG, parsing, redaction and zeroization.
//!
//! A secret is the key both ends share. It is written in one of three forms:
//!
//! | form | example | key bytes |
//! |---|---|---|
//! | Standard Webhooks | `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw` | the base64 after `whsec_` |
//! | base64 | `base64:q83vASNFZ4mrze8BI0VniavN7wEjRWeJ` | the base64 after `base64:` |
//! | raw | `Zx8k2mQ4...` (Learnomy's 32 characters, a LearnWorlds token) | the text's UTF-8 bytes |
//! | Ed25519 signing key | `whsk_` and base64 | Standard Webhooks `v1a`: the 64-byte key pair (seed and public key), or the 32-byte seed alone |
//! | Ed25519 public key | `whpk_` and base64 | Standard Webhooks `v1a`: 32 bytes, verifies only |
//!
//! The first three are shared secrets (HMAC keys). The last two (feature `v1a`) are the
//! asymmetric pair of Standard Webhooks `v1a`: the sender keeps the `whsk_` key and signs with it
//! ([`Secret::generate_ed25519`]); receivers hold only the `whpk_` key
//! ([`Secret::public_key`]), which verifies and cannot sign, so a leaked receiver key forges
//! nothing. Both travel through the same APIs as shared secrets (a sender's secret list, a
//! receiver's [`with_secret`](crate::Receiver::with_secret)): with the Standard Webhooks
//! scheme a `whsk_` key signs `v1a,`, a shared secret `v1,`, side by side in one header while
//! an endpoint moves from one to the other. The body-HMAC and token schemes refuse them.
//!
//! A key shorter than [`Secret::MIN_LEN`] bytes is refused, so that a typo or a truncated copy
//! cannot become a three-byte key. `Debug` shows a hint and the length, never the key; there is
//! no `Display`; the bytes are zeroized when the secret is dropped.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use base64::Engine as _;
use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::random::{self, RandomError};

/// A signing (and, for Learnybox, encryption) secret.
///
/// # Examples
///
/// ```
/// use lms_webhooks::Secret;
///
/// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// assert_eq!(secret.expose_bytes().len(), 24);
/// assert_eq!(secret.hint(), "…LaSw");
/// assert!(!format!("{secret:?}").contains("MfKQ9r8G"));
///
/// let fresh = Secret::generate_standard()?; // whsec_ + 32 random bytes
/// let shown_once = fresh.expose_text();     // store it, show it to the admin once
/// assert!(shown_once.starts_with("whsec_"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
    form: Form,
    /// HMAC-SHA256 keyed with this secret, computed on first use and cloned per message: it
    /// saves hashing the two key blocks every time. Zeroized on drop (the `zeroize` features of
    /// `hmac` and `sha2`).
    keyed: OnceLock<Hmac<Sha256>>,
    /// The same for Standard Webhooks signatures, which read an unprefixed secret as base64;
    /// `None` when such a secret is not base64.
    standard_keyed: OnceLock<Option<Hmac<Sha256>>>,
    /// The Ed25519 key of a `whsk_` secret (zeroized on drop by `ed25519-dalek`).
    #[cfg(feature = "v1a")]
    signing: OnceLock<ed25519_dalek::SigningKey>,
    /// The Ed25519 public key of a `whsk_` or `whpk_` secret, decompressed once.
    #[cfg(feature = "v1a")]
    public: OnceLock<Option<ed25519_dalek::VerifyingKey>>,
}

/// How a secret was written, so [`Secret::expose_text`] gives it back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretForm {
    /// `whsec_` followed by base64 (Standard Webhooks, Svix).
    Whsec,
    /// `base64:` followed by base64 (PHP frameworks' keys).
    Base64,
    /// The text itself is the key.
    Raw,
    /// `whsk_` followed by base64: an Ed25519 signing key (Standard Webhooks `v1a`).
    Whsk,
    /// `whpk_` followed by base64: an Ed25519 public key, which only verifies.
    Whpk,
}

type Form = SecretForm;

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Nothing was given (or only a prefix).
    #[error("the secret is empty")]
    Empty,
    /// The key is too short to be safe.
    #[error(
        "the secret's key is {len} bytes long; at least {min} are required (is it truncated?)"
    )]
    TooShort {
        /// The key's length in bytes, after decoding.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The text after `whsec_` or `base64:` is not base64.
    #[error("the text after `{prefix}` is not valid base64")]
    InvalidBase64 {
        /// `whsec_` or `base64:`.
        prefix: &'static str,
    },
    /// An Ed25519 key (`whsk_`, `whpk_`) given to a build without the `v1a` feature.
    #[error("`{prefix}` keys (Standard Webhooks v1a, Ed25519) need the lms-webhooks feature `{feature}`")]
    NeedsFeature {
        /// `whsk_` or `whpk_`.
        prefix: &'static str,
        /// The feature: `v1a`.
        feature: &'static str,
    },
    /// The bytes after `whsk_` or `whpk_` are not an Ed25519 key.
    #[error("the text after `{prefix}` is not an Ed25519 {what}: {reason}")]
    InvalidEd25519 {
        /// `whsk_` or `whpk_`.
        prefix: &'static str,
        /// "signing key" or "public key".
        what: &'static str,
        /// What is wrong, e.g. its length.
        reason: String,
    },
    /// The secret starts with what looks like a mistyped prefix (`hwsec_`, `Whsec_`,
    /// `whsec-`, `whsk-`, `WHPK_`…): taken as a raw key it would make every signature differ,
    /// with no clue why, so it is refused.
    #[error("the secret starts with `{found}`, which looks like a mistyped `{expected}` prefix: write it as `{expected}` followed by the base64 key")]
    MistypedPrefix {
        /// The secret's first characters, up to and including the separator (no key material).
        found: String,
        /// The prefix it resembles: `whsec_`, `whsk_` or `whpk_`.
        expected: &'static str,
    },
    /// The operating system's random source failed while generating a secret.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl Secret {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 16;
    /// The prefix of Standard Webhooks secrets.
    pub const WHSEC_PREFIX: &'static str = "whsec_";
    /// The prefix of base64 secrets.
    pub const BASE64_PREFIX: &'static str = "base64:";
    /// The prefix of Ed25519 signing keys (Standard Webhooks `v1a`).
    pub const WHSK_PREFIX: &'static str = "whsk_";
    /// The prefix of Ed25519 public keys (Standard Webhooks `v1a`).
    pub const WHPK_PREFIX: &'static str = "whpk_";

    /// Parses a secret in any of the three forms (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        if let Some(b64) = text.strip_prefix(Self::WHSEC_PREFIX) {
            Secret::decode(b64, Self::WHSEC_PREFIX, Form::Whsec)
        } else if let Some(b64) = text.strip_prefix(Self::BASE64_PREFIX) {
            Secret::decode(b64, Self::BASE64_PREFIX, Form::Base64)
        } else if let Some(b64) = text.strip_prefix(Self::WHSK_PREFIX) {
            Secret::ed25519(b64, Form::Whsk)
        } else if let Some(b64) = text.strip_prefix(Self::WHPK_PREFIX) {
            Secret::ed25519(b64, Form::Whpk)
        } else if let Some((found, expected)) = mistyped_prefix(text) {
            Err(SecretError::MistypedPrefix {
                found: found.to_owned(),
                expected,
            })
        } else {
            Secret::from_bytes(text.as_bytes().to_vec(), Form::Raw)
        }
    }

    /// A secret from raw key bytes (shown as `whsec_` text by [`Secret::expose_text`]).
    pub fn from_key(bytes: impl Into<Vec<u8>>) -> Result<Secret, SecretError> {
        Secret::from_bytes(bytes.into(), Form::Whsec)
    }

    /// A new Standard Webhooks secret: `whsec_` and 32 bytes from the OS CSPRNG.
    pub fn generate_standard() -> Result<Secret, SecretError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        random::fill(&mut bytes)?;
        Ok(Secret::new(bytes, Form::Whsec))
    }

    /// A new Ed25519 signing key for Standard Webhooks `v1a` (`whsk_`), its seed from the OS
    /// CSPRNG. Give receivers its [`public_key`](Secret::public_key) (`whpk_`).
    ///
    /// ```
    /// use lms_webhooks::{Secret, SecretForm};
    ///
    /// let signing = Secret::generate_ed25519()?;
    /// assert!(signing.expose_text().starts_with("whsk_"));
    /// let public = signing.public_key().unwrap();
    /// assert_eq!(public.form(), SecretForm::Whpk);
    /// assert!(public.expose_text().starts_with("whpk_"));
    /// assert_eq!(public.public_key(), Some(public.clone()));
    /// assert_eq!(Secret::generate_standard()?.public_key(), None);
    /// # Ok::<(), lms_webhooks::SecretError>(())
    /// ```
    #[cfg(feature = "v1a")]
    #[cfg_attr(docsrs, doc(cfg(feature = "v1a")))]
    pub fn generate_ed25519() -> Result<Secret, SecretError> {
        let mut seed = Zeroizing::new(vec![0u8; 32]);
        random::fill(&mut seed)?;
        Ok(Secret::new(seed, Form::Whsk))
    }

    /// The `whpk_` public key of a `whsk_` signing key (the key itself for a `whpk_` one);
    /// `None` for shared secrets, which have none (and without the `v1a` feature, which
    /// parses no Ed25519 key).
    pub fn public_key(&self) -> Option<Secret> {
        #[cfg(feature = "v1a")]
        {
            let key = self.ed25519_public()?;
            Some(Secret::new(
                Zeroizing::new(key.to_bytes().to_vec()),
                Form::Whpk,
            ))
        }
        #[cfg(not(feature = "v1a"))]
        None
    }

    /// Whether this is an Ed25519 key (`whsk_` or `whpk_`) rather than a shared secret.
    pub fn is_asymmetric(&self) -> bool {
        matches!(self.form, Form::Whsk | Form::Whpk)
    }

    /// The Ed25519 signing key of a `whsk_` secret.
    #[cfg(feature = "v1a")]
    pub(crate) fn ed25519_signing(&self) -> Option<&ed25519_dalek::SigningKey> {
        if self.form != Form::Whsk {
            return None;
        }
        let seed: &[u8; 32] = self.bytes.as_slice().try_into().ok()?;
        Some(
            self.signing
                .get_or_init(|| ed25519_dalek::SigningKey::from_bytes(seed)),
        )
    }

    /// The Ed25519 public key of a `whsk_` or `whpk_` secret.
    #[cfg(feature = "v1a")]
    pub(crate) fn ed25519_public(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        self.public
            .get_or_init(|| match self.form {
                Form::Whsk => self.ed25519_signing().map(|k| k.verifying_key()),
                Form::Whpk => {
                    let bytes: &[u8; 32] = self.bytes.as_slice().try_into().ok()?;
                    ed25519_dalek::VerifyingKey::from_bytes(bytes).ok()
                }
                _ => None,
            })
            .as_ref()
    }

    /// A new 32-character alphanumeric secret (`[A-Za-z0-9]`, Learnomy style), whose text is
    /// the key. Each character carries log2(62) ≈ 5.95 bits: about 190 bits in all.
    pub fn generate_alphanumeric() -> Result<Secret, SecretError> {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut text = Zeroizing::new(Vec::with_capacity(32));
        let mut pool = Zeroizing::new([0u8; 64]);
        while text.len() < 32 {
            random::fill(pool.as_mut())?;
            // Rejection sampling: 248 = 4 × 62, so every character is equally likely.
            for &b in pool.iter().filter(|&&b| b < 248) {
                if text.len() == 32 {
                    break;
                }
                text.push(ALPHABET[usize::from(b % 62)]);
            }
        }
        Ok(Secret::new(text, Form::Raw))
    }

    /// The key bytes. Named loudly so that every use stands out in review.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The secret written in its form (`whsec_…`, `base64:…` or the raw text), for the one
    /// time a host stores it or shows it to an admin. Zeroized when dropped.
    pub fn expose_text(&self) -> Zeroizing<String> {
        Zeroizing::new(match self.form {
            Form::Whsec => format!("{}{}", Self::WHSEC_PREFIX, STANDARD.encode(&*self.bytes)),
            Form::Base64 => format!("{}{}", Self::BASE64_PREFIX, STANDARD.encode(&*self.bytes)),
            Form::Raw => String::from_utf8_lossy(&self.bytes).into_owned(),
            // The 64-byte key pair, as Svix and libsodium write Ed25519 secret keys.
            #[cfg(feature = "v1a")]
            Form::Whsk => match self.ed25519_signing() {
                Some(key) => {
                    let pair = Zeroizing::new(key.to_keypair_bytes());
                    format!("{}{}", Self::WHSK_PREFIX, STANDARD.encode(pair.as_slice()))
                }
                None => String::new(),
            },
            // Never made without the feature (parsing refuses `whsk_`).
            #[cfg(not(feature = "v1a"))]
            Form::Whsk => String::new(),
            Form::Whpk => format!("{}{}", Self::WHPK_PREFIX, STANDARD.encode(&*self.bytes)),
        })
    }

    /// How the secret is written.
    pub fn form(&self) -> SecretForm {
        self.form
    }

    /// `…` and the last four characters of the written form, for admin screens.
    pub fn hint(&self) -> String {
        let text = self.expose_text();
        let tail: Vec<char> = text.chars().rev().take(4).collect();
        std::iter::once('…').chain(tail.into_iter().rev()).collect()
    }

    fn new(bytes: Zeroizing<Vec<u8>>, form: Form) -> Secret {
        Secret {
            bytes,
            form,
            keyed: OnceLock::new(),
            standard_keyed: OnceLock::new(),
            #[cfg(feature = "v1a")]
            signing: OnceLock::new(),
            #[cfg(feature = "v1a")]
            public: OnceLock::new(),
        }
    }

    /// Without the `v1a` feature, Ed25519 keys are refused, saying which feature reads them.
    #[cfg(not(feature = "v1a"))]
    fn ed25519(_: &str, form: Form) -> Result<Secret, SecretError> {
        Err(SecretError::NeedsFeature {
            prefix: match form {
                Form::Whsk => Self::WHSK_PREFIX,
                _ => Self::WHPK_PREFIX,
            },
            feature: "v1a",
        })
    }

    /// A `whsk_` key (the 64-byte pair, whose public half must match its seed, or the 32-byte
    /// seed) or a `whpk_` key (32 bytes, a valid point of small order refused).
    #[cfg(feature = "v1a")]
    fn ed25519(b64: &str, form: Form) -> Result<Secret, SecretError> {
        let (prefix, what) = match form {
            Form::Whsk => (Self::WHSK_PREFIX, "signing key"),
            _ => (Self::WHPK_PREFIX, "public key"),
        };
        if b64.is_empty() {
            return Err(SecretError::Empty);
        }
        let invalid = |reason: String| SecretError::InvalidEd25519 {
            prefix,
            what,
            reason,
        };
        let bytes = Zeroizing::new(
            STANDARD_PAD_INDIFFERENT
                .decode(b64)
                .map_err(|_| SecretError::InvalidBase64 { prefix })?,
        );
        match (form, bytes.len()) {
            (Form::Whsk, 32) => Ok(Secret::new(bytes, form)),
            (Form::Whsk, 64) => {
                let pair: &[u8; 64] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| invalid(String::new()))?;
                let key = ed25519_dalek::SigningKey::from_keypair_bytes(pair).map_err(|_| {
                    invalid("its second half is not the public key of its first".to_owned())
                })?;
                Ok(Secret::new(Zeroizing::new(key.to_bytes().to_vec()), form))
            }
            (Form::Whsk, len) => Err(invalid(format!(
                "{len} bytes; expected 64 (key pair) or 32 (seed)"
            ))),
            (_, 32) => {
                let point: &[u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| invalid(String::new()))?;
                match ed25519_dalek::VerifyingKey::from_bytes(point) {
                    Ok(key) if !key.is_weak() => Ok(Secret::new(bytes, form)),
                    Ok(_) => Err(invalid(
                        "a point of small order, which any signature matches".to_owned(),
                    )),
                    Err(_) => Err(invalid("not a point on the curve".to_owned())),
                }
            }
            (_, len) => Err(invalid(format!("{len} bytes; expected 32"))),
        }
    }

    /// A fresh HMAC-SHA256 instance keyed with this secret.
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        self.keyed().clone()
    }

    /// The HMAC-SHA256 state keyed with this secret, computed once: callers clone it straight
    /// into the instance they feed (one copy of the state, not one per function it passes).
    fn keyed(&self) -> &Hmac<Sha256> {
        self.keyed.get_or_init(|| {
            // HMAC takes keys of every length, so this cannot fail; the fallback (an empty
            // key) is unreachable but keeps the function total.
            Hmac::<Sha256>::new_from_slice(&self.bytes)
                .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()))
        })
    }

    /// HMAC-SHA256 keyed as Standard Webhooks libraries key it: a secret written without
    /// `whsec_` is base64-decoded (strict standard alphabet, padded), as the reference
    /// libraries (Python, Node, Go, Svix) do with every secret they are given; `None` when it
    /// is not base64, which they refuse too. `whsec_` and `base64:` secrets are decoded
    /// already.
    /// (The keyed state, to be cloned by the caller as it feeds it.)
    pub(crate) fn standard_keyed(&self) -> Option<&Hmac<Sha256>> {
        if self.form != Form::Raw {
            return Some(self.keyed());
        }
        self.standard_keyed
            .get_or_init(|| {
                let decoded = Zeroizing::new(STANDARD.decode(self.bytes.as_slice()).ok()?);
                Hmac::<Sha256>::new_from_slice(&decoded).ok()
            })
            .as_ref()
    }

    fn decode(b64: &str, prefix: &'static str, form: Form) -> Result<Secret, SecretError> {
        if b64.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = STANDARD_PAD_INDIFFERENT
            .decode(b64)
            .map_err(|_| SecretError::InvalidBase64 { prefix })?;
        Secret::from_bytes(bytes, form)
    }

    fn from_bytes(bytes: Vec<u8>, form: Form) -> Result<Secret, SecretError> {
        let bytes = Zeroizing::new(bytes);
        match bytes.len() {
            0 => Err(SecretError::Empty),
            len if len < Self::MIN_LEN => Err(SecretError::TooShort {
                len,
                min: Self::MIN_LEN,
            }),
            _ => Ok(Secret::new(bytes, form)),
        }
    }
}

/// The look-alike prefix `text` starts with, if any, and the prefix it resembles: a word of
/// letters followed by `_`, `-`, `:` or `.`, that is not one of the prefixes but equals one
/// in another case, or is one edit away from one (a letter added, missing, changed, or two
/// neighbours swapped).
fn mistyped_prefix(text: &str) -> Option<(&str, &'static str)> {
    const PREFIXES: [(&str, &str); 3] = [
        ("whsec", Secret::WHSEC_PREFIX),
        ("whsk", Secret::WHSK_PREFIX),
        ("whpk", Secret::WHPK_PREFIX),
    ];
    let end = text.find(|c: char| !c.is_ascii_alphabetic())?;
    if end > 7 || !matches!(text.as_bytes()[end], b'_' | b'-' | b':' | b'.') {
        return None;
    }
    let word = text[..end].to_ascii_lowercase();
    let found = &text[..=end];
    // The same word in another case or with another separator first: `whpk` is also one
    // edit from `whsk`.
    let same = PREFIXES.iter().find(|(name, _)| word == *name);
    same.or_else(|| {
        PREFIXES
            .iter()
            .find(|(name, _)| within_one_edit(&word, name))
    })
    .filter(|(_, prefix)| found != *prefix)
    .map(|(_, prefix)| (found, *prefix))
}

/// Whether `a` and `b` differ by at most one insertion, deletion, substitution or swap of two
/// neighbours (Damerau–Levenshtein distance ≤ 1).
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[common..], &b[common..]);
    match (ra.len(), rb.len()) {
        (0, 0) => true,
        (x, y) if x == y => {
            ra[1..] == rb[1..] || (x >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        (x, y) if x == y + 1 => ra[1..] == *rb,
        (x, y) if y == x + 1 => rb[1..] == *ra,
        _ => false,
    }
}

/// [`Secret::parse`], for APIs that take `impl TryInto<Secret>`.
impl TryFrom<&str> for Secret {
    type Error = SecretError;
    fn try_from(text: &str) -> Result<Secret, SecretError> {
        Secret::parse(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No character of the secret, not even the admin hint's last four: `Debug` output
        // ends up in logs. The hint is its own method, for admin screens.
        f.debug_struct("Secret")
            .field("form", &self.form())
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// Constant-time: comparing secrets must not leak how much of them matched.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        // A signing key and a shared secret are different keys even with the same bytes.
        let kind = |s: &Secret| (s.form == Form::Whsk, s.form == Form::Whpk);
        kind(self) == kind(other) && bool::from(self.bytes.as_slice().ct_eq(other.bytes.as_slice()))
    }
}

impl Eq for Secret {}

/// Serialized as its written form (`whsec_…`, `base64:…` or raw): whatever stores a serialized
/// `Secret` (a delivery row, say) must be protected like the secret itself.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.expose_text())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        Secret::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Secret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Secret, SecretError> {
        Secret::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let s = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(s.form(), SecretForm::Whsec);
        assert_eq!(s.expose_bytes().len(), 24);
        assert_eq!(&*s.expose_text(), "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");

        let b = Secret::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        assert_eq!(b.expose_bytes(), (0u8..32).collect::<Vec<_>>().as_slice());
        assert_eq!(b.form(), SecretForm::Base64);

        let r = Secret::parse("It's a Secret to Everybody").unwrap();
        assert_eq!(r.expose_bytes(), b"It's a Secret to Everybody");
        assert_eq!(&*r.expose_text(), "It's a Secret to Everybody");
        assert_eq!(r.hint(), "…body");
    }

    #[test]
    fn refuses_empty_short_and_bad_base64() {
        assert_eq!(Secret::parse(""), Err(SecretError::Empty));
        assert_eq!(Secret::parse("   "), Err(SecretError::Empty));
        assert_eq!(Secret::parse("whsec_"), Err(SecretError::Empty));
        assert_eq!(
            Secret::parse("abc"),
            Err(SecretError::TooShort { len: 3, min: 16 })
        );
        assert_eq!(
            Secret::parse("whsec_AAEC"),
            Err(SecretError::TooShort { len: 3, min: 16 })
        );
        assert_eq!(
            Secret::parse("whsec_not*base64!"),
            Err(SecretError::InvalidBase64 { prefix: "whsec_" })
        );
        assert_eq!(
            Secret::parse("base64:@@@@"),
            Err(SecretError::InvalidBase64 { prefix: "base64:" })
        );
    }

    #[test]
    fn look_alike_prefixes_are_refused_and_named() {
        for (text, expected) in [
            ("hwsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("Whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whsec-MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whsc_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whseec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whsek_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("Whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsk_"),
            ("hwsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsk_"),
            ("whpk-MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whpk_"),
            ("WHPK_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whpk_"),
        ] {
            let found = text[..text.find(['_', '-']).unwrap() + 1].to_owned();
            let error = Secret::parse(text).unwrap_err();
            assert_eq!(
                error,
                SecretError::MistypedPrefix { found, expected },
                "{text}"
            );
            assert!(error.to_string().contains(expected), "{error}");
            assert!(!error.to_string().contains("MfKQ9r8G"), "{error}");
        }
        // Raw secrets that only start with letters are still raw secrets.
        for text in [
            "It's a Secret to Everybody",
            "webhook_secret_0123456789",
            "which-one-is-the-secret",
            "wh_0123456789abcdef",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert_eq!(
                Secret::parse(text).unwrap().form(),
                SecretForm::Raw,
                "{text}"
            );
        }
    }

    #[test]
    fn generated_secrets_have_the_promised_shape_and_differ() {
        let a = Secret::generate_standard().unwrap();
        let b = Secret::generate_standard().unwrap();
        assert_eq!(a.expose_bytes().len(), 32);
        assert_ne!(a, b);
        assert_eq!(Secret::parse(&a.expose_text()).unwrap(), a);

        let n = Secret::generate_alphanumeric().unwrap();
        assert_eq!(n.expose_bytes().len(), 32);
        assert!(n.expose_bytes().iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(n, Secret::generate_alphanumeric().unwrap());
        assert_eq!(Secret::parse(&n.expose_text()).unwrap(), n);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let shown = format!("{s:?} {s:#?}");
        // Not one character of the written form, in any window of four, and not the hint.
        let text = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for i in 0..text.len() - 3 {
            assert!(!shown.contains(&text[i..i + 4]), "{shown}");
        }
        assert!(shown.contains("24"), "the length is shown: {shown}");
        assert_eq!(s.hint(), "…LaSw", "the hint stays a method of its own");
    }
}
