//! The byte codecs signatures and ciphertexts share: hex, the base64 of a 32-byte tag and the
//! constant-time tag comparison (over `subtle`). Integers are formatted with `itoa`.
//!
//! Written out for the sizes the crate uses: they sit on every request's hot path. The base64
//! of a tag is written out for its one size (measured faster than the `base64` crate's engine
//! when it was written); hex stays written out (a dozen lines, tested here and against known
//! digests) rather than adding a crate to every receiver's build for it.

use subtle::ConstantTimeEq;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The standard-alphabet base64 of a 32-byte tag: 44 characters, one `=`.
///
/// Written out for the one size signatures have: it is on every request's hot path.
pub(crate) fn base64_tag(tag: &[u8; 32]) -> [u8; 44] {
    let mut text = [b'='; 44];
    let sextet = |v: u64, shift: u32| B64[((v >> shift) & 63) as usize];
    // Six bytes make eight characters: five groups, then the last two bytes make three
    // characters and keep the `=`.
    for (chars, bytes) in text.chunks_exact_mut(8).zip(tag.chunks_exact(6)) {
        let v = bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
        for (i, c) in (0u32..).zip(chars.iter_mut()) {
            *c = sextet(v, 42 - 6 * i);
        }
    }
    let v = u64::from(tag[30]) << 8 | u64::from(tag[31]);
    text[40] = sextet(v, 10);
    text[41] = sextet(v, 4);
    text[42] = sextet(v << 2, 0);
    text
}

/// Decodes exactly the 44-character canonical base64 of a 32-byte tag; anything else is `None`.
pub(crate) fn decode_base64_tag(text: &str) -> Option<[u8; 32]> {
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
    const EITHER_CASE: [u8; 256] = hex_table(true);
    decode_hex_with(&EITHER_CASE, text, out)
}

/// Decodes exactly `out.len() * 2` lower-case hex digits into `out`: one spelling per value.
#[cfg(feature = "encryption")]
pub(crate) fn decode_lower_hex(text: &str, out: &mut [u8]) -> Option<()> {
    const LOWER_CASE: [u8; 256] = hex_table(false);
    decode_hex_with(&LOWER_CASE, text, out)
}

/// Each digit's value, 0xff for anything else (evaluated into a constant where it is used).
const fn hex_table(upper: bool) -> [u8; 256] {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        let digit = b"0123456789abcdef"[i];
        table[digit as usize] = i as u8;
        if upper {
            table[digit.to_ascii_uppercase() as usize] = i as u8;
        }
        i += 1;
    }
    table
}

/// Invalid digits map to 0xff; one check at the end catches any of them.
#[inline(always)]
fn decode_hex_with(table: &[u8; 256], text: &str, out: &mut [u8]) -> Option<()> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return None;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (table[usize::from(pair[0])], table[usize::from(pair[1])]);
        bad |= high | low;
        *byte = high << 4 | (low & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoder = fn(&str, &mut [u8]) -> Option<()>;

    /// The hex decoders, each with whether it reads upper case.
    const HEX_DECODERS: &[(Decoder, bool)] = &[
        (decode_hex, true),
        #[cfg(feature = "encryption")]
        (decode_lower_hex, false),
    ];

    #[test]
    fn hex_round_trip_and_rejections() {
        let mut s = String::new();
        push_hex(&mut s, &[0x00, 0xab, 0xff]);
        assert_eq!(s, "00abff");
        for &(decode, upper) in HEX_DECODERS {
            let mut out = [0u8; 3];
            assert_eq!(decode(&s, &mut out), Some(()));
            assert_eq!(out, [0x00, 0xab, 0xff]);
            assert_eq!(decode("00ABff", &mut out).is_some(), upper);
            for bad in ["00abf", "00abfg", "é0abff"] {
                assert_eq!(decode(bad, &mut out), None, "{bad}");
            }
        }
    }

    /// Every ASCII character, in both places of a pair, against the obvious decoder.
    #[test]
    fn hex_digits_are_exactly_the_hex_digits() {
        let expected = |c: u8, upper: bool| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' if upper => Some(c - b'A' + 10),
            _ => None,
        };
        for c in (0..=255u8).filter(u8::is_ascii) {
            for &(decode, upper) in HEX_DECODERS {
                let mut one = [0u8; 1];
                let text = String::from_utf8(vec![c, b'7']).unwrap();
                let got = decode(&text, &mut one).map(|()| one[0]);
                assert_eq!(got, expected(c, upper).map(|n| n << 4 | 7), "{c:#x}");
                let text = String::from_utf8(vec![b'7', c]).unwrap();
                let got = decode(&text, &mut one).map(|()| one[0]);
                assert_eq!(got, expected(c, upper).map(|n| 0x70 | n), "{c:#x}");
            }
        }
    }

    #[test]
    fn base64_tags_match_the_base64_crate() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        for seed in 0u8..=255 {
            let tag: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7));
            let ours = String::from_utf8(base64_tag(&tag).to_vec()).unwrap();
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

    /// xorshift64*: reproducible variety without a property-testing crate.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// 44 characters near the canonical shape, and arbitrary short text: the tag decoder
    /// agrees with the `base64` crate's strict decoder on every one.
    #[test]
    fn base64_tag_decoding_agrees_with_the_base64_crate() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-";
        let mut next = rng(0x5eed);
        for round in 0..20_000 {
            let text: String = if round % 2 == 0 {
                // 42 alphabet characters, one that may be padding or out of the alphabet, `=`.
                let mut t: String = (0..42)
                    .map(|_| char::from(ALPHABET[(next() % 64) as usize]))
                    .collect();
                t.push(char::from(ALPHABET[(next() % 66) as usize]));
                t.push('=');
                t
            } else {
                let len = (next() % 47) as usize;
                (0..len)
                    .map(|_| char::from_u32((next() % 0x250) as u32).unwrap_or('?'))
                    .collect()
            };
            let expected = STANDARD
                .decode(&text)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
            assert_eq!(decode_base64_tag(&text), expected, "{text:?}");
            let tag: [u8; 32] = std::array::from_fn(|_| next() as u8);
            let encoded = String::from_utf8(base64_tag(&tag).to_vec()).unwrap();
            assert_eq!(encoded, STANDARD.encode(tag));
            assert_eq!(decode_base64_tag(&encoded), Some(tag));
        }
    }

    #[test]
    fn tag_equality_is_equality() {
        let mut next = rng(0xec);
        for _ in 0..2_000 {
            let a: [u8; 32] = std::array::from_fn(|_| next() as u8);
            assert!(tag_eq(&a, &a));
            for flip in 0..256 {
                let mut b = a;
                b[flip / 8] ^= 1 << (flip % 8);
                assert!(!tag_eq(&a, &b));
            }
        }
    }
}
