//! Where headers come from ([`HeaderLookup`]), the header names of every scheme, and the
//! helpers that read and write them.

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{SignError, VerifyError};

/// `webhook-id`: the message id, stable across retries.
pub const WEBHOOK_ID: &str = "webhook-id";
/// `webhook-timestamp`: the delivery time in Unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// `webhook-signature`: space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// Learnomy's body HMAC header.
pub const X_LEARNOMY_SIGNATURE: &str = "x-learnomy-signature";
/// Thinkific's body HMAC header.
pub const X_THINKIFIC_HMAC_SHA256: &str = "x-thinkific-hmac-sha256";
/// GitHub's body HMAC header (values prefixed `sha256=`).
pub const X_HUB_SIGNATURE_256: &str = "x-hub-signature-256";
/// LearnWorlds' pre-shared token header.
pub const LEARNWORLDS_WEBHOOK_SIGNATURE: &str = "learnworlds-webhook-signature";

/// Where to read request headers from: an [`http::HeaderMap`](https://docs.rs/http/1/http/header/struct.HeaderMap.html), a slice or vector of name/value
/// pairs, or any closure through [`FnHeaders`]. Names are matched ASCII-case-insensitively.
///
/// The trait takes names as `&str`, so that code on another `http` version or another
/// framework can implement it without depending on this crate's `http`.
pub trait HeaderLookup {
    /// The first value of the header `name`, if present. `name` is in lower case.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;

    /// The same for a name already parsed: what the verifiers call, so that a [`HeaderMap`]
    /// finds it without parsing the name's text again. Implement it only to do just that.
    fn header_named(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        self.header(name.as_str())
    }

    /// The first value of each of `names` into the same place of `found` (which is as long):
    /// what a verifier reading several headers calls, so that a [`HeaderMap`] of a request's
    /// usual size is read in one pass instead of one hash lookup per name. Implement it only
    /// to do just that.
    fn headers_named<'a>(&'a self, names: &[HeaderName], found: &mut [Option<Cow<'a, str>>]) {
        for (name, slot) in names.iter().zip(found.iter_mut()) {
            *slot = self.header_named(name);
        }
    }
}

/// A value as text: signature headers are visible ASCII; anything else is read lossily and
/// will not match. (UTF-8 validation is the fast check here: `HeaderValue` already refused
/// control characters.)
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(text(self.get(name)?.as_bytes()))
    }

    fn header_named(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        Some(text(self.get(name)?.as_bytes()))
    }

    fn headers_named<'a>(&'a self, names: &[HeaderName], found: &mut [Option<Cow<'a, str>>]) {
        // A request's dozen headers are compared faster than they are hashed, once per name.
        if self.len() > 24 {
            for (name, slot) in names.iter().zip(found.iter_mut()) {
                *slot = self.header_named(name);
            }
            return;
        }
        // `iter` gives each name's values in order: the first one seen is the first value.
        first_of_each(
            self.iter().map(|(name, value)| (name.as_str(), value)),
            names,
            found,
            |name, wanted| name == wanted,
            |value| text(value.as_bytes()),
        );
    }
}

/// Fills each of `found` with the value of the first of `entries` whose name is the name in
/// the same place of `names` (none: `None`), in one pass over the entries, which stops once
/// every name is found. `same` compares an entry's name with a wanted (lower-case) one.
fn first_of_each<'a, V: Copy>(
    entries: impl IntoIterator<Item = (&'a str, V)>,
    names: &[HeaderName],
    found: &mut [Option<Cow<'a, str>>],
    same: impl Fn(&str, &str) -> bool,
    value: impl Fn(V) -> Cow<'a, str>,
) {
    for slot in found.iter_mut() {
        *slot = None;
    }
    // The wanted names' text, read once (up to eight on the stack; verifiers want six), and
    // their lengths as bits: most of a request's headers have none of those lengths, and an
    // entry whose bit (`n % 64` for `n` bytes) is clear is passed over at once.
    let bit = |text: &str| 1u64 << (text.len() % 64);
    let mut lengths = 0;
    let mut texts = [""; 8];
    let many: Vec<&str>;
    let texts = match texts.get_mut(..names.len()) {
        Some(texts) => {
            for (text, name) in texts.iter_mut().zip(names) {
                *text = name.as_str();
                lengths |= bit(text);
            }
            &*texts
        }
        None => {
            many = names.iter().map(HeaderName::as_str).collect();
            lengths = many.iter().fold(0, |set, text| set | bit(text));
            &many
        }
    };
    let mut missing = names.len();
    for (name, v) in entries {
        if lengths & bit(name) == 0 {
            continue;
        }
        for (wanted, slot) in texts.iter().zip(found.iter_mut()) {
            if wanted.len() == name.len() && slot.is_none() && same(name, wanted) {
                *slot = Some(value(v));
                missing -= 1;
            }
        }
        if missing == 0 {
            break;
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k.as_ref().trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| Cow::Borrowed(v.as_ref()))
    }

    fn headers_named<'a>(&'a self, names: &[HeaderName], found: &mut [Option<Cow<'a, str>>]) {
        // One pass, each pair's name trimmed once (a lookup per name trimmed every pair's
        // name again: 48 trims for a request's 8 headers); the first pair of a name wins, as
        // in `header`.
        let pairs = self.iter().map(|(k, v)| (k.as_ref().trim(), v));
        first_of_each(pairs, names, found, str::eq_ignore_ascii_case, |v| {
            Cow::Borrowed(v.as_ref())
        });
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.as_slice().header(name)
    }

    fn headers_named<'a>(&'a self, names: &[HeaderName], found: &mut [Option<Cow<'a, str>>]) {
        self.as_slice().headers_named(names, found);
    }
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).header(name)
    }

    fn header_named(&self, name: &HeaderName) -> Option<Cow<'_, str>> {
        (**self).header_named(name)
    }

    fn headers_named<'a>(&'a self, names: &[HeaderName], found: &mut [Option<Cow<'a, str>>]) {
        (**self).headers_named(names, found);
    }
}

/// Adapts a closure `Fn(&str) -> Option<String>` into a [`HeaderLookup`]; the closure gets the
/// lower-case header name.
///
/// ```
/// use lms_webhooks::signature::{FnHeaders, HeaderLookup};
///
/// let lookup = FnHeaders(|name: &str| (name == "webhook-id").then(|| "msg_1".to_owned()));
/// assert_eq!(lookup.header("webhook-id").as_deref(), Some("msg_1"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FnHeaders<F>(pub F);

impl<F: Fn(&str) -> Option<String>> HeaderLookup for FnHeaders<F> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        (self.0)(name).map(Cow::Owned)
    }
}

/// The header `name`, or the error naming it.
pub(super) fn required<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    name: &HeaderName,
) -> Result<Cow<'h, str>, VerifyError> {
    headers
        .header(name.as_str())
        .ok_or_else(|| missing(name.as_str()))
}

pub(super) fn missing(name: &str) -> VerifyError {
    VerifyError::MissingHeader {
        header: name.to_owned(),
    }
}

pub(super) fn malformed(header: &str, reason: String) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_owned(),
        reason,
    }
}

/// Inserts a header, taking the value's buffer without copying it.
pub(super) fn insert(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: Vec<u8>,
) -> Result<(), SignError> {
    match HeaderValue::try_from(value) {
        Ok(value) => {
            headers.insert(name, value);
            Ok(())
        }
        Err(_) => Err(SignError::InvalidHeaderValue {
            header: name.as_str().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the tests ask for: names of both families, one never present, and a long one.
    fn wanted() -> [HeaderName; 5] {
        [
            HeaderName::from_static("svix-id"),
            HeaderName::from_static("webhook-id"),
            HeaderName::from_static("webhook-signature"),
            HeaderName::from_static("absent"),
            HeaderName::from_static(LONG),
        ]
    }

    /// 68 bytes: its length bit wraps around to 4's (68 % 64), which `Host` among the pairs
    /// has: passed on by the bit test, then told apart by the full comparison.
    const LONG: &str = "x-a-header-name-of-sixty-eight-bytes-whose-length-bit-wraps-around-k";

    /// The one-pass read finds what one lookup per name finds: first values, absent names,
    /// repeated headers, and maps too large for one pass.
    #[test]
    fn reading_several_names_at_once_is_reading_each() {
        let names = wanted();
        for extra in [0usize, 3, 40] {
            let mut map = HeaderMap::new();
            for i in 0..extra {
                map.insert(
                    HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("f"),
                );
            }
            map.append("webhook-signature", HeaderValue::from_static("v1,first"));
            map.insert("webhook-id", HeaderValue::from_static("msg_1"));
            map.append("webhook-signature", HeaderValue::from_static("v1,second"));
            map.insert("content-type", HeaderValue::from_static("application/json"));
            map.insert(LONG, HeaderValue::from_static("long"));
            let mut found: [Option<Cow<'_, str>>; 5] = Default::default();
            map.headers_named(&names, &mut found);
            let each: Vec<Option<Cow<'_, str>>> =
                names.iter().map(|n| map.header_named(n)).collect();
            assert_eq!(found.to_vec(), each, "{extra} other headers");
            assert_eq!(found[2].as_deref(), Some("v1,first"));
            assert_eq!(found[0], None);
            assert_eq!(found[4].as_deref(), Some("long"));
        }
    }

    /// More names than the stack holds: the same answers.
    #[test]
    fn reading_more_than_eight_names_at_once_is_reading_each() {
        let names: Vec<HeaderName> = (0..12)
            .map(|i| HeaderName::from_bytes(format!("x-name-{}", "n".repeat(i)).as_bytes()))
            .chain([Ok(HeaderName::from_static(LONG))])
            .collect::<Result<_, _>>()
            .unwrap();
        let mut map = HeaderMap::new();
        for name in names.iter().step_by(2) {
            map.insert(name.clone(), HeaderValue::from_str(name.as_str()).unwrap());
        }
        map.insert(LONG, HeaderValue::from_static("long"));
        let mut found = vec![None; names.len()];
        map.headers_named(&names, &mut found);
        let each: Vec<Option<Cow<'_, str>>> = names.iter().map(|n| map.header_named(n)).collect();
        assert_eq!(found, each);
        assert_eq!(found.iter().filter(|f| f.is_some()).count(), 7);
    }

    /// The same for name/value pairs, whose names are matched trimmed and in any case.
    #[test]
    fn reading_several_pairs_at_once_is_reading_each() {
        let names = wanted();
        let long = LONG.to_uppercase();
        let pairs = vec![
            ("Host", "example.com"),
            (" Webhook-Signature ", "v1,first"),
            ("WEBHOOK-ID", "msg_1"),
            ("webhook-signature", "v1,second"),
            ("webhook-id-extra", "no"),
            ("Webhook-Ib", "no"),
            ("éebhook-id", "no"),
            ("", "no"),
            (&long, "long"),
        ];
        let mut found: [Option<Cow<'_, str>>; 5] = Default::default();
        pairs.headers_named(&names, &mut found);
        let each: Vec<Option<Cow<'_, str>>> = names.iter().map(|n| pairs.header_named(n)).collect();
        assert_eq!(found.to_vec(), each);
        assert_eq!(found[1].as_deref(), Some("msg_1"));
        assert_eq!(found[2].as_deref(), Some("v1,first"));
        assert_eq!(found[0], None);
        assert_eq!(found[3], None);
        assert_eq!(found[4].as_deref(), Some("long"));
    }
}
