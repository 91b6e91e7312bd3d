//! Authenticated AES-256-CBC payload encryption (encrypt-then-MAC), as Learnybox encrypts
//! webhook bodies, readable with stock OpenSSL and PHP.
//!
//! AES-CBC alone gives neither integrity nor authenticity, so every message carries an
//! HMAC-SHA256 over its IV and ciphertext, and the receiver checks it, in constant time, BEFORE
//! it decrypts anything. A tampered message is refused as a MAC failure without ever reaching
//! the padding check, so there is no padding oracle.
//!
//! # The format
//!
//! The encrypted body is a JSON object of three strings:
//!
//! ```json
//! {"iv":"<base64 of 16 random bytes>","value":"<base64 of the ciphertext>","mac":"<64 hex digits>"}
//! ```
//!
//! - `key`: exactly 32 bytes (see [`EncryptionKey::parse`]);
//! - `iv`: 16 fresh bytes from the OS CSPRNG for every message, standard base64 with padding
//!   (24 characters);
//! - `value`: AES-256-CBC of the plaintext under `key` and `iv`, with PKCS#7 padding (so its
//!   length is a positive multiple of 16 bytes), standard base64 with padding;
//! - `mac`: HMAC-SHA256 under the same `key` of the two base64 strings exactly as they appear in
//!   the JSON, `iv` then `value`, concatenated without separator; 64 lower-case hex digits
//!   (upper case is refused, so that a MAC has exactly one spelling).
//!
//! The plaintext is the envelope JSON. Other members (PHP frameworks add `"tag": ""`) are
//! ignored. This is the layout PHP frameworks' encrypters use, so a PHP receiver decrypts it
//! with stock functions:
//!
//! ```php
//! $p = json_decode($body, true);
//! $mac = hash_hmac('sha256', $p['iv'] . $p['value'], $key);
//! if (!hash_equals($mac, $p['mac'])) { http_response_code(401); exit; }   // MAC first
//! $json = openssl_decrypt($p['value'], 'aes-256-cbc', $key, 0, base64_decode($p['iv']));
//! ```
//!
//! and from a shell, with the key and IV in hex:
//!
//! ```sh
//! printf '%s%s' "$IV_B64" "$VALUE_B64" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY_HEX   # compare with mac
//! printf '%s' "$VALUE_B64" | openssl enc -d -aes-256-cbc -K $KEY_HEX -iv $(printf '%s' "$IV_B64" | base64 -d | xxd -p) -a -A
//! ```
//!
//! # Composing with signatures
//!
//! Encryption happens first; a signature scheme then signs the encrypted body, so a receiver
//! verifies the signature on the raw body, then decrypts.
//!
//! # Examples
//!
//! ```
//! use lms_webhooks::encryption::EncryptionKey;
//!
//! let key = EncryptionKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
//! let body = key.encrypt(br#"{"type":"webhook.test"}"#)?;
//! assert_eq!(key.decrypt(&body)?, br#"{"type":"webhook.test"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::random::{self, RandomError};
use crate::signature::{decode_hex, push_hex};
use crate::{Envelope, EnvelopeError, Secret};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The largest encrypted body [`EncryptionKey::decrypt`] reads: 4 MiB.
pub const DEFAULT_MAX_BODY_LEN: usize = 4 * 1024 * 1024;

/// A 32-byte AES-256 and HMAC-SHA256 key. `Debug` redacts it; it is zeroized on drop.
#[derive(Clone)]
pub struct EncryptionKey {
    key: Zeroizing<[u8; 32]>,
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is not 32 bytes long.
    #[error("an AES-256 key is exactly 32 bytes; this one is {found} bytes")]
    WrongLength {
        /// The length found, in bytes (after base64 decoding for `base64:` keys).
        found: usize,
    },
    /// The text after `base64:` or `whsec_` is not base64.
    #[error("the text after the `base64:`/`whsec_` prefix is not valid base64")]
    InvalidBase64,
}

/// Why a body could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The OS CSPRNG could not provide an IV.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Why an encrypted body was refused. Each variant names the step that failed; a MAC failure
/// says nothing about the plaintext or its padding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The body is larger than the limit; nothing was decoded.
    #[error("the encrypted body is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not a JSON object with string members `iv`, `value` and `mac`.
    #[error("the encrypted body is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// `iv` or `value` is not standard, padded base64.
    #[error("`{field}` is not valid base64")]
    BadBase64 {
        /// `iv` or `value`.
        field: &'static str,
    },
    /// `iv` does not decode to 16 bytes.
    #[error("`iv` decodes to {found} bytes; 16 are required")]
    WrongIvLength {
        /// The length found.
        found: usize,
    },
    /// `mac` is not 64 lower-case hexadecimal digits.
    #[error("`mac` is not 64 lower-case hexadecimal digits")]
    MalformedMac,
    /// The MAC does not match: the body was altered, or the key is wrong. Nothing was decrypted.
    #[error("the MAC does not match: the body was altered or the key is wrong")]
    MacMismatch,
    /// The MAC matched but the ciphertext's length or padding is invalid: the sender encrypted
    /// incorrectly (an attacker cannot reach this step).
    #[error("the ciphertext's length or PKCS#7 padding is invalid")]
    BadPadding,
    /// The plaintext is not a valid envelope ([`EncryptionKey::decrypt_envelope`] only).
    #[error("the decrypted plaintext is not a valid envelope: {0}")]
    Envelope(#[source] EnvelopeError),
}

impl EncryptionKey {
    /// The key's length in bytes.
    pub const LEN: usize = 32;

    /// Parses a key: `base64:` followed by the base64 of 32 bytes, `whsec_` likewise, or a
    /// 32-character text used as its bytes (Learnybox shows such a secret key).
    pub fn parse(text: &str) -> Result<EncryptionKey, KeyError> {
        let text = text.trim();
        let encoded = text
            .strip_prefix(Secret::BASE64_PREFIX)
            .or_else(|| text.strip_prefix(Secret::WHSEC_PREFIX));
        match encoded {
            Some(b64) => {
                let bytes = Zeroizing::new(
                    STANDARD
                        .decode(b64.trim())
                        .map_err(|_| KeyError::InvalidBase64)?,
                );
                EncryptionKey::from_bytes(&bytes)
            }
            None => EncryptionKey::from_bytes(text.as_bytes()),
        }
    }

    /// A key from exactly 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionKey, KeyError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::WrongLength { found: bytes.len() })?;
        Ok(EncryptionKey {
            key: Zeroizing::new(key),
        })
    }

    /// A key from a [`Secret`] whose key bytes are exactly 32 long.
    pub fn from_secret(secret: &Secret) -> Result<EncryptionKey, KeyError> {
        EncryptionKey::from_bytes(secret.expose_bytes())
    }

    /// The key bytes.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Encrypts `plaintext` under a fresh IV from the OS CSPRNG and returns the JSON body.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
        let mut iv = [0u8; 16];
        random::fill(&mut iv)?;
        Ok(self.encrypt_with_iv(plaintext, iv))
    }

    /// Encrypts with a caller-chosen IV.
    ///
    /// **For tests and known-answer vectors only**: reusing an IV with the same key leaks which
    /// messages share a prefix. Real messages use [`EncryptionKey::encrypt`].
    pub fn encrypt_with_iv(&self, plaintext: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let ciphertext = Aes256CbcEnc::new((&*self.key).into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plaintext);

        // Build the JSON in one buffer; the MAC reads the two base64 strings in place.
        let iv_len = 24;
        let value_len = ciphertext.len().div_ceil(3) * 4;
        let mut out = String::with_capacity(36 + iv_len + value_len + 64);
        out.push_str(r#"{"iv":""#);
        let iv_start = out.len();
        STANDARD.encode_string(iv, &mut out);
        let iv_end = out.len();
        out.push_str(r#"","value":""#);
        let value_start = out.len();
        STANDARD.encode_string(&ciphertext, &mut out);
        let value_end = out.len();
        let tag = self.mac(&out[iv_start..iv_end], &out[value_start..value_end]);
        out.push_str(r#"","mac":""#);
        push_hex(&mut out, &tag);
        out.push_str(r#""}"#);
        out.into_bytes()
    }

    /// Checks and decrypts a body, refusing bodies over [`DEFAULT_MAX_BODY_LEN`].
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
        self.decrypt_limited(body, DEFAULT_MAX_BODY_LEN)
    }

    /// Checks and decrypts a body of at most `max_len` bytes: parse, check the MAC in constant
    /// time, and only then decrypt and check the padding.
    pub fn decrypt_limited(&self, body: &[u8], max_len: usize) -> Result<Vec<u8>, DecryptError> {
        if body.len() > max_len {
            return Err(DecryptError::TooLarge {
                len: body.len(),
                max: max_len,
            });
        }
        let parts: Parts<'_> =
            serde_json::from_slice(body).map_err(|e| DecryptError::Malformed {
                reason: e.to_string(),
            })?;

        let iv = STANDARD
            .decode(parts.iv.as_bytes())
            .map_err(|_| DecryptError::BadBase64 { field: "iv" })?;
        let iv: [u8; 16] = iv
            .as_slice()
            .try_into()
            .map_err(|_| DecryptError::WrongIvLength { found: iv.len() })?;
        let mut ciphertext = STANDARD
            .decode(parts.value.as_bytes())
            .map_err(|_| DecryptError::BadBase64 { field: "value" })?;
        let mut given = [0u8; 32];
        // Lower case only, as written: one spelling per MAC, as PHP's string compare expects.
        if parts.mac.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DecryptError::MalformedMac);
        }
        decode_hex(&parts.mac, &mut given).ok_or(DecryptError::MalformedMac)?;

        let expected = self.mac(&parts.iv, &parts.value);
        if !bool::from(expected.ct_eq(&given)) {
            return Err(DecryptError::MacMismatch);
        }

        let len = Aes256CbcDec::new((&*self.key).into(), &iv.into())
            .decrypt_padded::<Pkcs7>(&mut ciphertext)
            .map_err(|_| DecryptError::BadPadding)?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    /// Decrypts a body and parses the plaintext as an [`Envelope`].
    pub fn decrypt_envelope(&self, body: &[u8]) -> Result<Envelope, DecryptError> {
        let plaintext = self.decrypt(body)?;
        Envelope::from_slice(&plaintext).map_err(DecryptError::Envelope)
    }

    fn mac(&self, iv_b64: &str, value_b64: &str) -> [u8; 32] {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.key.as_ref()) {
            Ok(mac) => mac,
            // A 32-byte key always fits HMAC; this arm only keeps the function total.
            Err(_) => Hmac::<Sha256>::new(&Default::default()),
        };
        mac.update(iv_b64.as_bytes());
        mac.update(value_b64.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The three members as read; `Cow` because JSON escapes force a copy.
#[derive(serde::Deserialize)]
struct Parts<'a> {
    #[serde(borrow)]
    iv: Cow<'a, str>,
    #[serde(borrow)]
    value: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey").finish_non_exhaustive()
    }
}

/// Constant-time: comparing keys must not leak how much of them matched.
impl PartialEq for EncryptionKey {
    fn eq(&self, other: &EncryptionKey) -> bool {
        bool::from(self.key.ct_eq(&*other.key))
    }
}

impl Eq for EncryptionKey {}

/// Serialized as `base64:` and the key: protect whatever stores it like the key itself.
impl serde::Serialize for EncryptionKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(format!(
            "{}{}",
            Secret::BASE64_PREFIX,
            STANDARD.encode(*self.key)
        ));
        serializer.serialize_str(&text)
    }
}

impl<'de> serde::Deserialize<'de> for EncryptionKey {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<EncryptionKey, D::Error> {
        let text = Zeroizing::new(<String as serde::Deserialize>::deserialize(deserializer)?);
        EncryptionKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<&Secret> for EncryptionKey {
    type Error = KeyError;
    fn try_from(secret: &Secret) -> Result<EncryptionKey, KeyError> {
        EncryptionKey::from_secret(secret)
    }
}

impl std::str::FromStr for EncryptionKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<EncryptionKey, KeyError> {
        EncryptionKey::parse(s)
    }
}
