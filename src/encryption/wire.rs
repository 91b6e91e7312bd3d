//! The encrypted body's wire form, read: its members without a JSON parser when they are
//! plain (the usual case), and a plaintext that PHP serialized.

use std::borrow::Cow;

/// The three members as read; `Cow` because JSON escapes force a copy.
#[derive(Debug, PartialEq, serde::Deserialize)]
pub(super) struct Parts<'a> {
    #[serde(borrow)]
    pub(super) iv: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) value: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) mac: Cow<'a, str>,
    /// Laravel writes `""` for CBC; a non-empty tag is an AEAD cipher's.
    #[serde(borrow, default)]
    pub(super) tag: Option<Cow<'a, str>>,
}

/// What a PHP-serialized plaintext holds.
#[derive(Debug, PartialEq)]
pub(super) enum Php {
    /// `s:N:"…";`: the text's bytes, where they are in the plaintext.
    String(std::ops::Range<usize>),
    /// Another serialized type, named.
    Other(&'static str),
}

/// Reads `plain` as PHP's `serialize()` output, strictly (the whole plaintext, lengths and
/// terminators checked), so that no JSON or ordinary text is ever taken for it.
pub(super) fn php_serialized(plain: &[u8]) -> Option<Php> {
    fn scalar(body: &[u8]) -> Option<&[u8]> {
        body.strip_suffix(b";").filter(|b| !b.contains(&b';'))
    }
    let digits = |text: &[u8]| !text.is_empty() && text.iter().all(u8::is_ascii_digit);
    match plain {
        b"N;" => Some(Php::Other("null")),
        b"b:0;" | b"b:1;" => Some(Php::Other("boolean")),
        [b'i', b':', rest @ ..] => {
            let n = scalar(rest)?;
            digits(n.strip_prefix(b"-").unwrap_or(n)).then_some(Php::Other("integer"))
        }
        [b'd', b':', rest @ ..] => {
            let n = scalar(rest)?;
            let float = |b: &u8| b.is_ascii_digit() || b"-+.eEINFA".contains(b);
            (!n.is_empty() && n.iter().all(float)).then_some(Php::Other("float"))
        }
        [b's', b':', rest @ ..] => {
            let colon = rest.iter().position(|b| *b == b':')?;
            let len: usize = std::str::from_utf8(&rest[..colon])
                .ok()
                .filter(|n| digits(n.as_bytes()))?
                .parse()
                .ok()?;
            let start = 2 + colon + 2; // `s:` digits `:"`
            let text = rest[colon + 1..].strip_prefix(b"\"")?;
            (text.len() == len + 2 && text.ends_with(b"\";"))
                .then_some(Php::String(start..start + len))
        }
        [kind @ (b'a' | b'O' | b'C' | b'E'), b':', rest @ ..] => {
            let colon = rest.iter().position(|b| *b == b':')?;
            let what = match kind {
                b'a' => "array",
                b'E' => "enum",
                _ => "object",
            };
            let ends = match kind {
                b'E' => plain.ends_with(b"\";"),
                _ => plain.ends_with(b"}"),
            };
            (digits(&rest[..colon]) && ends).then_some(Php::Other(what))
        }
        _ => None,
    }
}

impl<'a> Parts<'a> {
    /// Reads the common shape without a JSON parser: one object whose members are all strings
    /// free of escapes and control characters, `iv`, `value` and `mac` once each. Returns
    /// `None` for anything else (escaped `\/` from PHP, `"tag":null`, duplicates, bad JSON),
    /// which `serde_json` then reads or rejects with its message: the result is the same
    /// either way, this is only faster on a body of a few KiB of base64.
    pub(super) fn read_plain(body: &'a [u8]) -> Option<Parts<'a>> {
        // JSON is UTF-8 throughout: one check up front (`serde_json` reports where it fails).
        let body_text = std::str::from_utf8(body).ok()?;
        let ws = |i: &mut usize| {
            while body
                .get(*i)
                .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                *i += 1;
            }
        };
        // A string without escapes or control characters, starting at the quote at `*i`.
        let string = |i: &mut usize| -> Option<&'a str> {
            if body.get(*i) != Some(&b'"') {
                return None;
            }
            let start = *i + 1;
            // Find the closing quote (memchr, through `str::find`), then check what it
            // encloses in one branch-free pass that the compiler vectorizes.
            let rest = body_text.get(start..)?;
            let text = &rest[..rest.find('"')?];
            let special = text
                .bytes()
                .fold(false, |found, b| found | (b == b'\\') | (b < 0x20));
            if special {
                return None;
            }
            *i = start + text.len() + 1;
            Some(text)
        };
        let (mut iv, mut value, mut mac, mut tag) = (None, None, None, None);
        let mut i = 0;
        ws(&mut i);
        if body.get(i) != Some(&b'{') {
            return None;
        }
        i += 1;
        loop {
            ws(&mut i);
            let key = string(&mut i)?;
            ws(&mut i);
            if body.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
            ws(&mut i);
            let text = string(&mut i)?;
            let slot = match key {
                "iv" => &mut iv,
                "value" => &mut value,
                "mac" => &mut mac,
                "tag" => &mut tag,
                _ => &mut None,
            };
            if slot.replace(Cow::Borrowed(text)).is_some() {
                return None; // a duplicate: serde_json names it
            }
            ws(&mut i);
            match body.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => break,
                _ => return None,
            }
        }
        i += 1;
        ws(&mut i);
        if i != body.len() {
            return None;
        }
        Some(Parts {
            iv: iv?,
            value: value?,
            mac: mac?,
            tag,
        })
    }
}
