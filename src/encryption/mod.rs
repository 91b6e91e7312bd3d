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

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::{decode_lower_hex, push_hex, tag_eq};
use wire::{php_serialized, Parts, Php};

mod wire;
use crate::random::{self, RandomError};
use crate::{Envelope, EnvelopeError, Secret};

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The largest encrypted body [`EncryptionKey::decrypt`] reads: 4 MiB.
pub const DEFAULT_MAX_BODY_LEN: usize = crate::receiver::DEFAULT_MAX_BODY_LEN;

/// A 32-byte AES-256 and HMAC-SHA256 key. `Debug` redacts it; it is zeroized on drop.
///
/// # Examples
///
/// ```
/// use lms_webhooks::encryption::{DecryptError, KeyError};
/// use lms_webhooks::EncryptionKey;
///
/// // 32 characters, or `base64:` and the base64 of 32 bytes (Laravel's APP_KEY form).
/// let key = EncryptionKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// assert!(matches!(EncryptionKey::parse("too short"), Err(KeyError::WrongLength { .. })));
///
/// let body = key.encrypt(br#"{"type":"webhook.test"}"#)?;
/// let other = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a")?;
/// assert_eq!(other.decrypt(&body), Err(DecryptError::MacMismatch)); // checked before decrypting
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct EncryptionKey {
    key: Zeroizing<[u8; 32]>,
    /// HMAC-SHA256 keyed with the key, computed on first use and cloned per message.
    keyed: OnceLock<Hmac<Sha256>>,
}

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is not 32 bytes long.
    #[error("an AES-256 key is exactly 32 bytes; this one is {found} bytes (accepted: 32 characters of text, or `base64:` or `whsec_` followed by the base64 of 32 bytes)")]
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
    /// The body carries a non-empty `tag`: it was encrypted with an AEAD cipher (Laravel's
    /// `aes-256-gcm` or `aes-128-gcm`), not AES-256-CBC. Refused as Laravel refuses a tag with
    /// a CBC key; nothing was decrypted.
    #[error("the body carries a non-empty `tag`: it was encrypted with AES-GCM (Laravel's `aes-256-gcm` or `aes-128-gcm` cipher), not AES-256-CBC, which this key decrypts; set the sender's cipher to `aes-256-cbc`")]
    AeadPayload,
    /// The MAC matched and the plaintext is a PHP-serialized value other than a string:
    /// Laravel's `encrypt($value)` of an array, an object or a number, which no JSON receiver
    /// can read. (A serialized string, `s:5:"hello";`, is unwrapped instead.)
    #[error("the plaintext is a PHP-serialized {what} (Laravel's `encrypt($value)` of a non-string): the sender should encrypt the JSON text, with `encryptString($json)` or `encrypt($json)`")]
    PhpSerialized {
        /// What was serialized: "array", "object", "integer", "float", "boolean", "null" or
        /// "enum".
        what: &'static str,
    },
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
            keyed: OnceLock::new(),
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

    /// [`EncryptionKey::encrypt`], written as Laravel's `Encrypter` writes it: the base64 of
    /// the JSON object (see [`laravel_form`]).
    pub fn encrypt_laravel(&self, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
        Ok(laravel_form(&self.encrypt(plaintext)?).into_bytes())
    }

    /// Checks and decrypts a body of at most `max_len` bytes (the JSON object, or its base64
    /// as Laravel's `Encrypter` writes it): parse, check the MAC in constant
    /// time, and only then decrypt and check the padding.
    pub fn decrypt_limited(&self, body: &[u8], max_len: usize) -> Result<Vec<u8>, DecryptError> {
        if body.len() > max_len {
            return Err(DecryptError::TooLarge {
                len: body.len(),
                max: max_len,
            });
        }
        // Laravel's Encrypter sends the base64 of the JSON object: accept both forms.
        let unwrapped;
        let body = match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | None => body,
            Some(_) => match STANDARD.decode(body.trim_ascii()) {
                Ok(json) if json.first() == Some(&b'{') => {
                    unwrapped = json;
                    unwrapped.as_slice()
                }
                _ => body,
            },
        };
        let parts = match Parts::read_plain(body) {
            Some(parts) => parts,
            None => serde_json::from_slice(body).map_err(|e| DecryptError::Malformed {
                reason: match looks_like_plain_envelope(body) {
                    true => "the body is not encrypted: it is a plain JSON envelope (`type`, \
                             `data`), sent to a profile that expects `iv`, `value` and `mac`"
                        .to_owned(),
                    false => e.to_string(),
                },
            })?,
        };
        // As Laravel: a tag belongs to an AEAD cipher (whose `mac` is empty), never to CBC.
        if parts.tag.as_deref().is_some_and(|tag| !tag.is_empty()) {
            return Err(DecryptError::AeadPayload);
        }

        let iv = decode_iv(&parts.iv)?;
        let mut ciphertext = STANDARD
            .decode(parts.value.as_bytes())
            .map_err(|_| DecryptError::BadBase64 { field: "value" })?;
        let mut given = [0u8; 32];
        // Lower case only, as written: one spelling per MAC, as PHP's string compare expects.
        decode_lower_hex(&parts.mac, &mut given).ok_or(DecryptError::MalformedMac)?;

        let expected = self.mac(&parts.iv, &parts.value);
        if !tag_eq(&expected, &given) {
            return Err(DecryptError::MacMismatch);
        }

        let len = Aes256CbcDec::new((&*self.key).into(), &iv.into())
            .decrypt_padded::<Pkcs7>(&mut ciphertext)
            .map_err(|_| DecryptError::BadPadding)?
            .len();
        ciphertext.truncate(len);
        // Laravel's `encrypt($value)` serializes first: `s:5:"hello";` is the text `hello`.
        match php_serialized(&ciphertext) {
            None => {}
            Some(Php::String(range)) => {
                ciphertext.truncate(range.end);
                ciphertext.drain(..range.start);
            }
            Some(Php::Other(what)) => return Err(DecryptError::PhpSerialized { what }),
        }
        Ok(ciphertext)
    }

    /// Decrypts a body and parses the plaintext as an [`Envelope`].
    pub fn decrypt_envelope(&self, body: &[u8]) -> Result<Envelope, DecryptError> {
        let plaintext = self.decrypt(body)?;
        Envelope::from_slice(&plaintext).map_err(DecryptError::Envelope)
    }

    fn mac(&self, iv_b64: &str, value_b64: &str) -> [u8; 32] {
        let mut mac = self
            .keyed
            .get_or_init(|| {
                // A 32-byte key always fits HMAC; the fallback only keeps this total.
                Hmac::<Sha256>::new_from_slice(self.key.as_ref())
                    .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()))
            })
            .clone();
        mac.update(iv_b64.as_bytes());
        mac.update(value_b64.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The IV from its base64: on the stack when it has the length of 16 bytes' (24 characters,
/// the usual case), else decoded to say how long it is.
fn decode_iv(text: &str) -> Result<[u8; 16], DecryptError> {
    let bad = || DecryptError::BadBase64 { field: "iv" };
    if text.len() == 24 {
        let mut out = [0u8; 18];
        let n = STANDARD
            .decode_slice(text.as_bytes(), &mut out)
            .map_err(|_| bad())?;
        return out[..n]
            .try_into()
            .map_err(|_| DecryptError::WrongIvLength { found: n });
    }
    let iv = STANDARD.decode(text.as_bytes()).map_err(|_| bad())?;
    iv.as_slice()
        .try_into()
        .map_err(|_| DecryptError::WrongIvLength { found: iv.len() })
}

/// [`EncryptionKey::parse`], for APIs that take `impl TryInto<EncryptionKey>`.
impl TryFrom<&str> for EncryptionKey {
    type Error = KeyError;
    fn try_from(text: &str) -> Result<EncryptionKey, KeyError> {
        EncryptionKey::parse(text)
    }
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

/// An encrypted body (the `{"iv","value","mac"}` JSON) in the form Laravel's `Encrypter`
/// gives and takes: its base64. [`EncryptionKey::decrypt`] reads both forms.
pub fn laravel_form(body: &[u8]) -> String {
    STANDARD.encode(body)
}

/// Whether `body` is a JSON object with an envelope's `type` or `data` and no `iv`: a
/// plaintext webhook sent where an encrypted one was expected.
fn looks_like_plain_envelope(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|o| !o.contains_key("iv") && (o.contains_key("type") || o.contains_key("data")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iv_is_read_on_the_stack_or_refused_with_its_length() {
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(decode_iv(&STANDARD.encode(iv)).unwrap(), iv);
        // 24 characters that are 17 or 15 bytes, or not base64; other lengths.
        let seventeen = STANDARD.encode([1u8; 17]);
        assert_eq!(seventeen.len(), 24);
        assert!(matches!(
            decode_iv(&seventeen),
            Err(DecryptError::WrongIvLength { found: 17 })
        ));
        let fifteen = STANDARD.encode([1u8; 15]);
        assert!(matches!(
            decode_iv(&fifteen),
            Err(DecryptError::WrongIvLength { found: 15 })
        ));
        let bad = "!".repeat(24);
        assert!(matches!(
            decode_iv(&bad),
            Err(DecryptError::BadBase64 { field: "iv" })
        ));
        let long = STANDARD.encode([1u8; 48]);
        assert!(matches!(
            decode_iv(&long),
            Err(DecryptError::WrongIvLength { found: 48 })
        ));
    }

    fn serde_parts(body: &[u8]) -> Option<Parts<'_>> {
        serde_json::from_slice(body).ok()
    }

    #[test]
    fn php_serialized_strings_are_unwrapped_and_other_types_named() {
        let key = EncryptionKey::from_bytes(&[3; 32]).unwrap();
        let open = |plain: &[u8]| key.decrypt(&key.encrypt(plain).unwrap());
        assert_eq!(open(b"s:5:\"hello\";").unwrap(), b"hello");
        assert_eq!(open(b"s:0:\"\";").unwrap(), b"");
        // Lengths are bytes, and quotes inside the text are text.
        let json = r#"{"id":"evt_1","type":"webhook.test","note":"é \"q\";"}"#;
        let wrapped = format!("s:{}:\"{json}\";", json.len());
        assert_eq!(open(wrapped.as_bytes()).unwrap(), json.as_bytes());
        for (plain, what) in [
            (&b"a:1:{i:0;s:1:\"x\";}"[..], "array"),
            (b"O:8:\"stdClass\":1:{s:1:\"a\";i:1;}", "object"),
            (b"i:42;", "integer"),
            (b"i:-7;", "integer"),
            (b"d:0.5;", "float"),
            (b"b:1;", "boolean"),
            (b"N;", "null"),
            (b"E:11:\"Suit:Hearts\";", "enum"),
        ] {
            assert_eq!(
                open(plain),
                Err(DecryptError::PhpSerialized { what }),
                "{}",
                String::from_utf8_lossy(plain)
            );
        }
        // Anything that is not exactly a serialization stays as it is.
        for plain in [
            &b"s:5:\"hello\""[..],
            b"s:6:\"hello\";",
            b"s:x:\"hello\";",
            b"i:4 2;",
            b"a:list of things}",
            b"{\"s\":1}",
            b"b:2;",
            b"Nope;",
        ] {
            assert_eq!(open(plain).unwrap(), plain);
        }
    }

    #[test]
    fn a_gcm_tag_is_refused_naming_the_cipher_and_an_empty_one_is_fine() {
        let key = EncryptionKey::from_bytes(&[3; 32]).unwrap();
        let body = String::from_utf8(key.encrypt(b"{}").unwrap()).unwrap();
        let with = |tag: &str| body.replacen('{', &format!("{{\"tag\":{tag},"), 1);
        assert_eq!(key.decrypt(with("\"\"").as_bytes()).unwrap(), b"{}");
        assert_eq!(key.decrypt(with("null").as_bytes()).unwrap(), b"{}");
        let gcm = with("\"q83vASNFZ4mrze8BI0VniQ==\"");
        let refused = key.decrypt(gcm.as_bytes()).unwrap_err();
        assert_eq!(refused, DecryptError::AeadPayload);
        assert!(refused.to_string().contains("aes-256-gcm"), "{refused}");
        // Laravel's AEAD bodies carry an empty `mac`: the tag is named, not the MAC.
        let aead =
            r#"{"iv":"AAAAAAAAAAAAAAAA","value":"AAAA","mac":"","tag":"q83vASNFZ4mrze8BI0VniQ=="}"#;
        assert_eq!(key.decrypt(aead.as_bytes()), Err(DecryptError::AeadPayload));
    }

    #[test]
    fn the_plain_reader_takes_our_bodies_and_leaves_the_rest_to_serde() {
        let key = EncryptionKey::from_bytes(&[3; 32]).unwrap();
        let body = key.encrypt(b"{\"id\":1}").unwrap();
        let plain = Parts::read_plain(&body).expect("our own layout");
        assert_eq!(Some(plain), serde_parts(&body));
        for body in [
            &br#" { "iv" : "a" , "value":"b","mac":"c","tag":"" } "#[..],
            br#"{"mac":"c","value":"b","iv":"a"}"#,
        ] {
            assert_eq!(Parts::read_plain(body), serde_parts(body));
        }
        // Escapes, non-string members, duplicates, trailing data and missing members go to
        // serde_json, which reads or rejects them itself.
        for body in [
            &br#"{"iv":"a\/b","value":"b","mac":"c"}"#[..],
            br#"{"iv":"a","value":"b","mac":"c","tag":null}"#,
            br#"{"iv":"a","iv":"a","value":"b","mac":"c"}"#,
            br#"{"iv":"a","value":"b","mac":"c"}x"#,
            br#"{"iv":"a","value":"b"}"#,
            br#"{"iv":"a","value":"b","mac":"c",}"#,
            b"{\"iv\":\"a\x01\",\"value\":\"b\",\"mac\":\"c\"}",
            b"",
        ] {
            assert_eq!(
                Parts::read_plain(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Whatever the plain reader accepts, serde_json reads the same way: bodies made of
    /// likely and unlikely members with random spacing, and random bytes.
    #[test]
    fn the_plain_reader_agrees_with_serde() {
        const KEYS: [&str; 7] = ["iv", "value", "mac", "tag", "i\\u0076", "a", "xyz"];
        const VALUES: [&str; 8] = ["", "a", "QUJD", "a\\/b", "\\\"", "é", "x y", "{}"];
        const SPACES: [&str; 6] = ["", " ", "\t", "\r\n", "  ", "\n"];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut pick = move |n: usize| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut body = format!("{}{{", SPACES[pick(6)]);
            for n in 0..pick(6) {
                if n > 0 {
                    body.push(',');
                }
                let pad = SPACES[pick(6)];
                let (k, v) = (KEYS[pick(7)], VALUES[pick(8)]);
                body.push_str(&format!("{pad}\"{k}\"{pad}:{pad}\"{v}\"{pad}"));
            }
            body.push('}');
            body.push_str(SPACES[pick(6)]);
            if let Some(parts) = Parts::read_plain(body.as_bytes()) {
                assert_eq!(Some(parts), serde_parts(body.as_bytes()), "{body}");
            }
            let len = pick(64);
            let bytes: Vec<u8> = (0..len).map(|_| pick(256) as u8).collect();
            if let Some(parts) = Parts::read_plain(&bytes) {
                assert_eq!(Some(parts), serde_parts(&bytes));
            }
        }
    }
}
