//! Standard Webhooks v1: HMAC-SHA256 of `{id}.{timestamp}.{body}`, base64 in
//! `webhook-signature: v1,<base64>` (or the `svix-*` names), several signatures while a secret
//! rotates.

use hmac::Mac;
use http::header::HeaderName;

use super::headers::{malformed, missing, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use super::{finish, HeaderLookup, Tolerance, Verified, VerifyError};
use crate::codec::{decode_base64_tag, format_i64, push_base64_tag, tag_eq};
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
            HeaderName::from_static("svix-id"),
            HeaderName::from_static("svix-timestamp"),
            HeaderName::from_static("svix-signature"),
        ];
        match self {
            HeaderPrefix::Webhook => WEBHOOK,
            HeaderPrefix::Svix => SVIX,
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

/// The `v1,<base64>` signatures of `message`, one per secret, space-separated.
pub(super) fn signature_value(secrets: &[Secret], id: &str, ts: i64, body: &[u8]) -> String {
    let mut value = String::with_capacity(secrets.len() * 48);
    for secret in secrets {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str("v1,");
        push_base64_tag(&mut value, &mac(secret, id, ts, body));
    }
    value
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
    let names = scheme.prefix.names();
    let [svix_id, svix_ts, svix_sig] = HeaderPrefix::Svix.names();
    let [wh_id, wh_ts, wh_sig] = HeaderPrefix::Webhook.names();
    let read = |svix: &HeaderName, webhook: &HeaderName, configured: &HeaderName| {
        headers
            .header(svix.as_str())
            .or_else(|| headers.header(webhook.as_str()))
            .ok_or_else(|| missing(configured))
    };
    let id = read(&svix_id, &wh_id, &names[0])?;
    let [id_name, ts_name, sig_name] = &names;
    let id = id.trim();
    if id.is_empty() {
        return Err(malformed(id_name.as_str(), "it is empty".to_owned()));
    }
    let ts_text = read(&svix_ts, &wh_ts, ts_name)?;
    let ts = parse_unix_seconds(ts_text.trim()).ok_or_else(|| {
        malformed(
            ts_name.as_str(),
            "expected Unix seconds, e.g. 1700000000".to_owned(),
        )
    })?;
    if ts > 99_999_999_999 {
        return Err(malformed(
            ts_name.as_str(),
            format!(
                "`{ts}` looks like milliseconds; Standard Webhooks timestamps are Unix seconds"
            ),
        ));
    }
    if let Tolerance::Within(limit) = tolerance {
        let limit_secs = limit.as_secs();
        let diff = i128::from(now.unix()) - i128::from(ts);
        // A timestamp the whole tolerance old is refused, as by the reference libraries (the
        // upstream Go test "old timestamp fails" signs at exactly `now - tolerance`); one the
        // whole tolerance ahead is still accepted, as there.
        if diff >= i128::from(limit_secs) {
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
    let signatures = read(&svix_sig, &wh_sig, sig_name)?;

    let mut saw_v1 = false;
    // Secrets outside, signatures inside: one HMAC per secret, and no allocation.
    for (index, secret) in secrets.iter().enumerate() {
        let expected = mac(secret, id, ts, body);
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

/// HMAC-SHA256 over `{id}.{ts}.{body}`, fed in parts: the signed content is never copied.
fn mac(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let mut mac = secret.standard_hmac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(format_i64(ts, &mut digits));
    mac.update(b".");
    mac.update(body);
    finish(mac)
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
    fn unix_seconds_are_digits_only() {
        assert_eq!(parse_unix_seconds("1614265330"), Some(1_614_265_330));
        for bad in ["", "-5", "+5", " 5", "1.5", "1e9", "99999999999999999999"] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
    }
}
