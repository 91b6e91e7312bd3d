//! The fuzz harnesses, one function per target.
//!
//! Shared by the libFuzzer binaries in `fuzz/fuzz_targets/` and by `tests/fuzz_corpus.rs`,
//! which replays every committed input (seeds and former crashes) as an ordinary test on the
//! stable toolchain. Each function must not panic on any input; beyond that, each checks an
//! oracle (a round trip, or a property a passing value must have), and panics if it fails, so
//! libFuzzer reports it as a crash.

#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use lms_webhooks::delivery::parse_retry_after;
use lms_webhooks::endpoint::{classify, EventFilter, UrlPolicy};
use lms_webhooks::profile::Profile;
use lms_webhooks::signature::{BodyHmacHex, Message, PresharedToken, StandardWebhooks};
use lms_webhooks::{EncryptionKey, Envelope, Scheme, Secret, Timestamp, Tolerance};

/// The receiver's clock in every harness: 2026-10-21T07:28:00Z.
const NOW: i64 = 1_792_567_680;

fn now() -> Timestamp {
    Timestamp::from_unix(NOW).expect("a valid constant")
}

fn secrets() -> Vec<Secret> {
    vec![
        Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a valid constant"),
        Secret::parse("a-plain-shared-secret-of-learnomy").expect("a valid constant"),
    ]
}

/// Splits `data` at the first NUL into a text part and a raw body.
fn split(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}

/// Header parsing and verification for every scheme.
///
/// Input: `name: value` lines, a NUL, then the body. The first byte of the text part picks the
/// tolerance. Oracles: whatever verifies carries the genuine signature of what was verified
/// (the fuzzer cannot compute an HMAC, so anything else is a forgery the verifier let
/// through), and signing the fuzzed body under the fuzzed id then verifying it succeeds,
/// while verifying a changed body fails.
pub fn signature(data: &[u8]) {
    let (text, body) = split(data);
    let headers: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let tolerance = match text.bytes().next().unwrap_or(0) % 3 {
        0 => Tolerance::default(),
        1 => Tolerance::Ignore,
        _ => Tolerance::Within(Duration::from_secs(u64::from(data.len() as u32))),
    };
    let secrets = secrets();
    let schemes = [
        Scheme::from(StandardWebhooks::new()),
        Scheme::from(StandardWebhooks::svix()),
        Scheme::from(BodyHmacHex::learnomy()),
        Scheme::from(BodyHmacHex::github()),
        Scheme::from(PresharedToken::learnworlds()),
    ];
    for scheme in &schemes {
        let result = scheme.verify(now(), &secrets, &headers, body, tolerance);
        if let Ok(verified) = result {
            assert_genuine(scheme, &secrets, &headers, &text, body, &verified);
        }
    }

    // Round trip with the fuzzed id and body.
    let id = text.lines().next().unwrap_or("");
    let message = Message::new(id, now(), body);
    for scheme in &schemes {
        match scheme.sign(&secrets, &message) {
            Ok(signed) => {
                scheme
                    .verify(now(), &secrets, &signed, body, Tolerance::default())
                    .unwrap_or_else(|e| panic!("{scheme:?} rejected its own signature: {e}"));
                if !matches!(scheme, Scheme::PresharedToken(_)) {
                    let mut other = body.to_vec();
                    other.push(b'!');
                    assert!(
                        scheme
                            .verify(now(), &secrets, &signed, &other, Tolerance::default())
                            .is_err(),
                        "{scheme:?} accepted a changed body"
                    );
                }
            }
            // An id that cannot be a header value is refused with an error, never a panic.
            Err(_) => assert!(
                matches!(scheme, Scheme::StandardWebhooks(_)),
                "{scheme:?} failed to sign"
            ),
        }
    }

    // Secret text parsing.
    let _ = Secret::parse(&text);
    let _ = Secret::parse(id);
}

/// Panics unless an accepted request holds the signature the matching secret makes.
fn assert_genuine(
    scheme: &Scheme,
    secrets: &[Secret],
    headers: &[(String, String)],
    text: &str,
    body: &[u8],
    verified: &lms_webhooks::Verified,
) {
    let secret = std::slice::from_ref(&secrets[verified.secret_index]);
    match scheme {
        Scheme::StandardWebhooks(_) => {
            let id = verified
                .id
                .as_deref()
                .expect("Standard Webhooks reports the id");
            let at = verified
                .timestamp
                .expect("Standard Webhooks reports the timestamp");
            let genuine = scheme
                .signature_value(secret, &Message::new(id, at, body))
                .expect("signs");
            let sent = headers
                .iter()
                .any(|(_, v)| v.split_whitespace().any(|token| token == genuine));
            assert!(sent, "{scheme:?} accepted a forged signature: {verified:?}");
        }
        Scheme::BodyHmacHex(_) => {
            let genuine = scheme
                .signature_value(secret, &Message::new("", now(), body))
                .expect("signs");
            let sent = headers
                .iter()
                .any(|(_, v)| v.trim().eq_ignore_ascii_case(&genuine));
            assert!(sent, "{scheme:?} accepted a forged digest: {verified:?}");
        }
        _ => {
            // A pre-shared token is matched by quoting the secret itself.
            let quoted = text.contains(secret[0].expose_text().as_str());
            assert!(quoted, "{scheme:?} accepted a token it was not given");
        }
    }
}

/// Decryption of an arbitrary body, and the encrypt → decrypt round trip.
///
/// Oracles: an arbitrary body never decrypts (its MAC cannot match without the key), and
/// encrypting the input under an IV taken from it decrypts back to the input.
pub fn decrypt(data: &[u8]) {
    let key = EncryptionKey::from_bytes(b"0123456789abcdef0123456789abcdef").expect("32 bytes");
    if let Ok(plain) = key.decrypt(data) {
        panic!("decrypted a body the fuzzer made: {} bytes", plain.len());
    }
    let _ = key.decrypt_limited(data, 64);
    let _ = key.decrypt_envelope(data);

    let mut iv = [0u8; 16];
    for (slot, byte) in iv.iter_mut().zip(data) {
        *slot = *byte;
    }
    let sealed = key.encrypt_with_iv(data, iv);
    assert_eq!(key.decrypt(&sealed).expect("our own ciphertext"), data);

    let text = String::from_utf8_lossy(data);
    let _ = EncryptionKey::parse(&text);
    let _ = EncryptionKey::from_bytes(data);
}

/// Every profile the crate reads.
fn profiles() -> [Profile; 6] {
    [
        Profile::standard(),
        Profile::learnybox(),
        Profile::learnworlds("school"),
        Profile::learnworlds_legacy("school"),
        Profile::learnink(),
        Profile::learnomy(),
    ]
}

/// Envelope parsing: the canonical layout and every platform layout.
///
/// Oracles: a canonical envelope that parses serializes and parses back equal; for each
/// platform layout, rendering what was read and reading it back renders the same bytes
/// (parse ∘ render is a fixed point after one step).
pub fn envelope(data: &[u8]) {
    if let Ok(envelope) = Envelope::from_slice(data) {
        let bytes = envelope.to_vec().expect("a parsed envelope serializes");
        let again = Envelope::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("our own output did not parse: {e}"));
        assert_eq!(again, envelope, "canonical round trip changed the envelope");
    }
    for profile in profiles() {
        for signed_id in [None, Some("msg_fuzz")] {
            let Ok(first) = profile.parse(now(), data, signed_id) else {
                continue;
            };
            let rendered = profile.render(&first).unwrap_or_else(|e| {
                panic!("{}: a parsed body did not render: {e}", profile.name())
            });
            let second = profile
                .parse(now(), &rendered, signed_id)
                .unwrap_or_else(|e| {
                    panic!("{}: our own rendering did not parse: {e}", profile.name())
                });
            let again = profile.render(&second).expect("renders");
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&rendered),
                "{}: render ∘ parse is not stable",
                profile.name()
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = EventFilter::parse(text.split(','));
        let _ = text.parse::<lms_webhooks::EventType>();
        let _ = lms_webhooks::EventId::parse(text);
    }
}

/// The SSRF policy on delivery URLs.
///
/// Oracles: an accepted URL is an `https` URL with a host and no credentials; an accepted IP
/// literal is public; the permissive policy accepts everything the strict one does.
pub fn url_policy(data: &[u8]) {
    let url = String::from_utf8_lossy(data);
    let strict = UrlPolicy::new();
    let loose = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true);
    let strict_result = strict.check(&url);
    let loose_result = loose.check(&url);
    if strict_result.is_ok() {
        assert!(
            loose_result.is_ok(),
            "the loose policy refused what the strict one accepted: {loose_result:?}"
        );
        let uri: http::Uri = url.parse().expect("an accepted URL parses");
        assert!(uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https")));
        let authority = uri.authority().expect("an accepted URL has an authority");
        assert!(!authority.as_str().contains('@'));
        let host = authority.host();
        assert!(!host.is_empty(), "accepted an empty host");
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = literal.parse::<IpAddr>() {
            let addr = unmap(addr);
            assert_eq!(classify(addr), None, "accepted a non-public address {addr}");
        }
        // Nothing but a port may follow the host.
        let rest = &authority.as_str()[host.len()..];
        assert!(
            rest.is_empty() || authority.port_u16().is_some(),
            "accepted `{rest}` after the host"
        );
    }
    // The resolved-address check, with addresses taken from the input.
    let addrs: Vec<IpAddr> = data
        .chunks(16)
        .map(|chunk| {
            let mut b = [0u8; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < 16 {
                IpAddr::from([b[0], b[1], b[2], b[3]])
            } else {
                IpAddr::from(b)
            }
        })
        .collect();
    if strict.check_resolved("example.com", &addrs).is_ok() {
        for &addr in &addrs {
            let addr = unmap(addr);
            assert_eq!(classify(addr), None, "resolved check accepted {addr}");
        }
    }
}

/// The policy judges an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) by its IPv4 address.
fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// `Retry-After` values.
///
/// Oracles: delay seconds read back as themselves; a date gives whole seconds.
pub fn retry_after(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let Some(delay) = parse_retry_after(now(), &value) else {
        return;
    };
    let trimmed = value.trim();
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(Some(delay.as_secs()), trimmed.parse::<u64>().ok());
    } else {
        // An HTTP date: it names a whole second, so the delay is whole seconds too.
        assert_eq!(delay.subsec_nanos(), 0);
    }
}
