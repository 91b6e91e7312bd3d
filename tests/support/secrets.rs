//! Checks that bytes hold no trace of a secret, in any encoding a stored row could use.

#![allow(dead_code)] // each test binary uses its own part

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Every text encoding of `bytes`: base64 (both alphabets, padded or not) and hex (both cases).
pub fn encodings(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        hex.to_uppercase(),
        hex,
    ]
}

/// Fails if `stored` holds `bytes` raw or in any of [`encodings`].
pub fn assert_holds_none_of(stored: &[u8], bytes: &[u8], what: &str) {
    assert!(
        !stored.windows(bytes.len()).any(|w| w == bytes),
        "{what}: raw bytes"
    );
    let text = String::from_utf8_lossy(stored);
    for encoded in encodings(bytes) {
        assert!(!text.contains(&encoded), "{what}: {encoded}");
    }
}
