//! Standard Webhooks v1: HMAC-SHA256 of `{id}.{timestamp}.{body}`, base64 in
//! `webhook-signature: v1,<base64>` (or the `svix-*` names), several signatures while a secret
//! rotates; and v1a: the Ed25519 signature of the same content, `v1a,<base64>`, made with a
//! `whsk_` key and verified with its `whpk_` public key.

#[cfg(feature = "v1a")]
use base64::engine::general_purpose::STANDARD;
#[cfg(feature = "v1a")]
use base64::Engine as _;
#[cfg(feature = "v1a")]
use ed25519_dalek::Signer as _;
use hmac::Mac;
use http::header::HeaderName;

use super::headers::{malformed, missing, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use super::{finish, HeaderLookup, SignError, Tolerance, Verified, VerifyError};
use crate::codec::{base64_tag, decode_base64_tag, tag_eq};
use crate::{Secret, Timestamp};

/// Standard Webhooks v1 (the default scheme), with `webhook-` or `svix-` header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardWebhooks {
    pub(super) prefix: HeaderPrefix,
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
    pub(super) fn names(self) -> [HeaderName; 3] {
        const WEBHOOK: [HeaderName; 3] = [
            HeaderName::from_static(WEBHOOK_ID),
            HeaderName::from_static(WEBHOOK_TIMESTAMP),
            HeaderName::from_static(WEBHOOK_SIGNATURE),
        ];
        const SVIX: [HeaderName; 3] = [
            HeaderName::from_static(SVIX_ID),
            HeaderName::from_static(SVIX_TIMESTAMP),
            HeaderName::from_static(SVIX_SIGNATURE),
        ];
        match self {
            HeaderPrefix::Webhook => WEBHOOK,
            HeaderPrefix::Svix => SVIX,
        }
    }

    /// The same names as text.
    pub(super) const fn texts(self) -> [&'static str; 3] {
        match self {
            HeaderPrefix::Webhook => [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE],
            HeaderPrefix::Svix => [SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE],
        }
    }
}

const SVIX_ID: &str = "svix-id";
const SVIX_TIMESTAMP: &str = "svix-timestamp";
const SVIX_SIGNATURE: &str = "svix-signature";

/// What a receiver reads, each header's `svix-` name before its `webhook-` one (see [`verify`]);
/// a static, so that nothing is built or dropped per request.
static WANTED: [HeaderName; 6] = [
    HeaderName::from_static(SVIX_ID),
    HeaderName::from_static(WEBHOOK_ID),
    HeaderName::from_static(SVIX_TIMESTAMP),
    HeaderName::from_static(WEBHOOK_TIMESTAMP),
    HeaderName::from_static(SVIX_SIGNATURE),
    HeaderName::from_static(WEBHOOK_SIGNATURE),
];

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

/// The signatures of `message`, one per secret, space-separated: `v1,<base64>` for a shared
/// secret, `v1a,<base64>` for a `whsk_` key (ASCII).
pub(super) fn signature_value(
    secrets: &[Secret],
    id: &str,
    ts: i64,
    body: &[u8],
) -> Result<Vec<u8>, SignError> {
    // The exact length: a header value made from a `Vec` whose capacity is its length takes
    // the buffer as it is; any spare capacity costs one more allocation.
    let exact = secrets
        .iter()
        .map(|s| if s.is_asymmetric() { 4 + 88 } else { 3 + 44 })
        .sum::<usize>()
        + secrets.len().saturating_sub(1);
    let mut value = Vec::with_capacity(exact);
    let mut content = None;
    for (index, secret) in secrets.iter().enumerate() {
        if !value.is_empty() {
            value.push(b' ');
        }
        if secret.is_asymmetric() {
            push_v1a(&mut value, secret, &mut content, (id, ts, body))?;
        } else {
            let tag = mac(secret, id, ts, body).ok_or(SignError::SecretNotBase64 { index })?;
            value.extend_from_slice(b"v1,");
            value.extend_from_slice(&base64_tag(&tag));
        }
    }
    Ok(value)
}

/// Appends `v1a,<base64>`: the Ed25519 signature of `{id}.{ts}.{body}` (built into `content`
/// once for all keys) by `secret`'s `whsk_` key.
#[cfg(feature = "v1a")]
fn push_v1a(
    value: &mut Vec<u8>,
    secret: &Secret,
    content: &mut Option<Vec<u8>>,
    (id, ts, body): (&str, i64, &[u8]),
) -> Result<(), SignError> {
    let key = secret.ed25519_signing().ok_or(SignError::UnsupportedKey(
        "a whpk_ public key only verifies: sign with its whsk_ key",
    ))?;
    let content = content.get_or_insert_with(|| signed_content(id, ts, body));
    value.extend_from_slice(b"v1a,");
    let mut text = [0u8; 88];
    let written = STANDARD
        .encode_slice(key.sign(content).to_bytes(), &mut text)
        .unwrap_or_default();
    value.extend_from_slice(&text[..written]);
    Ok(())
}

/// Without the `v1a` feature no Ed25519 key is ever parsed: unreachable, and an error if not.
#[cfg(not(feature = "v1a"))]
fn push_v1a(
    _: &mut Vec<u8>,
    _: &Secret,
    _: &mut Option<Vec<u8>>,
    _: (&str, i64, &[u8]),
) -> Result<(), SignError> {
    Err(SignError::UnsupportedKey(
        "Ed25519 keys need the lms-webhooks feature `v1a`",
    ))
}

/// `{id}.{ts}.{body}` in one buffer, for Ed25519 (which reads its message twice).
#[cfg(feature = "v1a")]
fn signed_content(id: &str, ts: i64, body: &[u8]) -> Vec<u8> {
    let mut digits = itoa::Buffer::new();
    let ts = digits.format(ts).as_bytes();
    let mut content = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(ts);
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

pub(super) fn verify<H: HeaderLookup + ?Sized>(
    scheme: &StandardWebhooks,
    secrets: &[Secret],
    headers: &H,
    body: &[u8],
    now: Timestamp,
    tolerance: Tolerance,
) -> Result<Verified, VerifyError> {
    // Each header is read as the svix libraries read it: the `svix-` name first, then the
    // `webhook-` one, header by header (a request may carry some of each). A missing header
    // is named as the configured family spells it.
    let mut found: [Option<std::borrow::Cow<'_, str>>; 6] = Default::default();
    headers.headers_named(&WANTED, &mut found);
    let [svix_id, wh_id, svix_ts, wh_ts, svix_sig, wh_sig] = found;
    // Only errors name headers: text, nothing to build.
    let [id_name, ts_name, sig_name] = scheme.prefix.texts();
    let id = svix_id.or(wh_id).ok_or_else(|| missing(id_name))?;
    let id = id.trim_ascii();
    if id.is_empty() {
        return Err(malformed(id_name, "it is empty".to_owned()));
    }
    let ts_text = svix_ts.or(wh_ts).ok_or_else(|| missing(ts_name))?;
    let ts = parse_unix_seconds(ts_text.trim_ascii())
        .ok_or_else(|| malformed(ts_name, "expected Unix seconds, e.g. 1700000000".to_owned()))?;
    if ts > 99_999_999_999 {
        return Err(malformed(
            ts_name,
            format!(
                "`{ts}` looks like milliseconds; Standard Webhooks timestamps are Unix seconds"
            ),
        ));
    }
    if let Tolerance::Within(limit) = tolerance {
        let limit_secs = limit.as_secs();
        let diff = i128::from(now.unix()) - i128::from(ts);
        // A timestamp exactly the whole tolerance old or ahead is accepted, as by the
        // reference libraries (Python `timestamp < now - tolerance` refuses; Go and Node
        // alike): "at most `tolerance` seconds".
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
    let signatures = svix_sig.or(wh_sig).ok_or_else(|| missing(sig_name))?;

    let (mut saw_v1, mut saw_v1a) = (false, false);
    let mut content = None;
    // Secrets outside, signatures inside: one HMAC (or one public key) per secret.
    for (index, secret) in secrets.iter().enumerate() {
        let matched = match secret.is_asymmetric() {
            true => v1a_matches(
                secret,
                &signatures,
                &mut content,
                (id, ts, body),
                &mut saw_v1a,
            ),
            false => {
                let expected =
                    mac(secret, id, ts, body).ok_or(VerifyError::SecretNotBase64 { index })?;
                entries(&signatures).any(|entry| {
                    let Some(encoded) = entry.strip_prefix("v1,") else {
                        return false;
                    };
                    saw_v1 = true;
                    // A signature of the wrong length or alphabet is one that does not match.
                    decode_base64_tag(encoded).is_some_and(|given| tag_eq(&expected, &given))
                })
            }
        };
        if matched {
            return Ok(Verified {
                secret_index: index,
                id: Some(id.to_owned()),
                timestamp: Timestamp::from_unix(ts).ok(),
            });
        }
    }
    let holds_shared = secrets.iter().any(|s| !s.is_asymmetric());
    let holds_keys = secrets.iter().any(Secret::is_asymmetric);
    if (holds_shared && saw_v1) || (holds_keys && saw_v1a) {
        Err(VerifyError::Mismatch)
    } else if holds_shared {
        Err(VerifyError::NoV1Signature {
            header: sig_name.to_owned(),
        })
    } else {
        Err(VerifyError::NoV1aSignature {
            header: sig_name.to_owned(),
        })
    }
}

/// Whether one of the `v1a,` entries of `signatures` is the Ed25519 signature of
/// `{id}.{ts}.{body}` (built into `content` once) by `secret`'s public key; `saw` is set when
/// there is such an entry. Strict: no malleable signatures, no small-order keys.
#[cfg(feature = "v1a")]
fn v1a_matches(
    secret: &Secret,
    signatures: &str,
    content: &mut Option<Vec<u8>>,
    (id, ts, body): (&str, i64, &[u8]),
    saw: &mut bool,
) -> bool {
    // An Ed25519 key never stands in as an HMAC key (parsing makes a key-less one unreachable).
    let Some(public) = secret.ed25519_public() else {
        return false;
    };
    entries(signatures).any(|entry| {
        let Some(encoded) = entry.strip_prefix("v1a,") else {
            return false;
        };
        *saw = true;
        let Some(signature) = decode_ed25519_signature(encoded) else {
            return false;
        };
        let content = content.get_or_insert_with(|| signed_content(id, ts, body));
        public.verify_strict(content, &signature).is_ok()
    })
}

/// Without the `v1a` feature no Ed25519 key is ever parsed: nothing matches.
#[cfg(not(feature = "v1a"))]
fn v1a_matches(
    _: &Secret,
    _: &str,
    _: &mut Option<Vec<u8>>,
    _: (&str, i64, &[u8]),
    _: &mut bool,
) -> bool {
    false
}

/// A `v1a` signature: base64 of 64 bytes.
#[cfg(feature = "v1a")]
fn decode_ed25519_signature(encoded: &str) -> Option<ed25519_dalek::Signature> {
    let bytes = STANDARD.decode(encoded).ok()?;
    let bytes: [u8; 64] = bytes.try_into().ok()?;
    Some(ed25519_dalek::Signature::from_bytes(&bytes))
}

/// The entries of a signature header, `version,signature`, as `value.split(' ')` gives them;
/// a `v1` entry (47 bytes: `v1,` and 44 of base64) is taken without searching for its end
/// (a branch-free check that it holds no space, which the compiler vectorizes, costs less).
fn entries(value: &str) -> impl Iterator<Item = &str> {
    const V1_LEN: usize = 3 + 44;
    let v1_entry = |text: &str| {
        text.as_bytes()
            .get(3..V1_LEN)
            .is_some_and(|tag| !tag.iter().fold(false, |space, &b| space | (b == b' ')))
    };
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let end = match text.as_bytes().get(V1_LEN) {
            _ if !text.starts_with("v1,") || !v1_entry(text) => text.find(' '),
            // A `v1` entry holds at least 47 bytes and no space: none after them is the end.
            None => None,
            Some(b' ') => Some(V1_LEN),
            Some(_) => text.find(' '),
        };
        match end {
            Some(end) => {
                rest = Some(&text[end + 1..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// HMAC-SHA256 over `{id}.{ts}.{body}`, fed in parts: the signed content is never copied.
/// `None` when the secret has no `whsec_` prefix and is not base64.
fn mac(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> Option<[u8; 32]> {
    let mut digits = itoa::Buffer::new();
    let mut mac = secret.standard_keyed()?.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(digits.format(ts).as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(finish(mac))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_what_splitting_at_spaces_gives() {
        let v1 = format!("v1,{}", "A".repeat(43) + "=");
        let v1a = format!("v1a,{}", "B".repeat(86) + "==");
        let cases = [
            String::new(),
            " ".to_owned(),
            v1.clone(),
            format!("{v1} {v1a}"),
            format!("{v1a} {v1}"),
            format!("{v1}  {v1} "),
            format!(" {v1}"),
            format!("{v1}x {v1}"),
            format!("{v1},{v1}"),
            // 47 bytes then a space, with spaces inside: not one entry.
            format!("v1,A v1a,{} {v1}", "C".repeat(38)),
            format!("v1,{} {}", "D".repeat(20), "E".repeat(23)),
            v1[..46].to_owned(),
            format!("{}é {v1}", &v1[..46]),
            "v1,short v2,other v1".to_owned(),
        ];
        for case in &cases {
            assert_eq!(
                entries(case).collect::<Vec<_>>(),
                case.split(' ').collect::<Vec<_>>(),
                "{case:?}"
            );
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
