//! Reading forms and requests: fields (repeated ones too), the origin check, the path the
//! router is mounted at.

use axum::extract::OriginalUri;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

/// A form's fields in order, repeated names kept (checkboxes).
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    pub(super) fn parse(body: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// False when the request says it comes from another origin: an `Origin` header (or, without
/// one, a `Referer`) that is not `origin` (the page's origin as the host configured it,
/// scheme included: `https://lms.example`), or, with no origin configured, whose host is not
/// the `Host` the request was sent to (a cross-site form cannot set it; `X-Forwarded-Host` is
/// not trusted: behind a reverse proxy, configure the origin). Requests with neither header
/// (old clients, tools) rely on the session-bound CSRF token alone.
pub(super) fn same_origin(headers: &HeaderMap, origin: Option<&str>) -> bool {
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else { return true };
    // `null` (a sandboxed or privacy-sensitive context) and anything that is not an absolute
    // URL with a host are another origin. Parsed by `http`'s URI parser, as the rest of the
    // router reads URIs.
    let Ok(from) = from.parse::<axum::http::Uri>() else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (from.scheme_str(), from.authority()) else {
        return false;
    };
    let authority = authority.as_str();
    if authority.contains('@') {
        return false;
    }
    match origin {
        Some(origin) => {
            let (want_scheme, want_authority) = origin.split_once("://").unwrap_or(("", origin));
            scheme.eq_ignore_ascii_case(want_scheme)
                && authority.eq_ignore_ascii_case(want_authority)
        }
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| authority.eq_ignore_ascii_case(host.trim())),
    }
}

/// The page's origin as a host configures it: `http` or `https`, a host, an optional port,
/// nothing else; returned lower-cased without a trailing slash.
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let uri: axum::http::Uri = text
        .parse()
        .map_err(|_| format!("`{text}` is not an origin such as https://lms.example"))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !matches!(scheme, "http" | "https") || uri.authority().is_none() {
        return Err(format!(
            "`{text}`: an origin is http:// or https:// and a host"
        ));
    }
    if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
        return Err(format!("`{text}`: an origin has no path or query"));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("`{text}`: an origin has no user name"));
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Where the router is mounted (`/settings/webhooks`), from the original URI and the path
/// left to the router; empty at the root.
pub(super) fn base_path(parts: &Parts) -> String {
    base(&parts.uri, &parts.extensions)
}

/// [`base_path`] of a whole request.
pub(super) fn base_path_of(request: &axum::extract::Request) -> String {
    base(request.uri(), request.extensions())
}

fn base(uri: &axum::http::Uri, extensions: &axum::http::Extensions) -> String {
    let inner = uri.path();
    let original = extensions
        .get::<OriginalUri>()
        .map_or_else(|| inner.to_owned(), |o| o.0.path().to_owned());
    let base = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or_default()
    };
    base.to_owned()
}

/// Whether a posted secret is strong enough to sign with: the form's field is read-only, but
/// nothing stops a client from posting another. A key pair (`whsk_`) is generated; a shared
/// secret needs at least 24 bytes of key with at least 10 different byte values (the page's
/// own are 32 random bytes, or 32 random letters and digits). `32 × "a"` or 18 zero bytes are
/// refused with the reason.
pub(super) fn strong_enough(secret: &lms_webhooks::Secret) -> Result<(), String> {
    if secret.is_asymmetric() {
        return Ok(());
    }
    let key = secret.expose_bytes();
    let mut seen = [false; 256];
    let distinct = key
        .iter()
        .filter(|b| !std::mem::replace(&mut seen[usize::from(**b)], true))
        .count();
    match (key.len(), distinct) {
        (len, _) if len < 24 => Err(format!(
            "This secret's key is {len} bytes: at least 24 are needed. Use the generated one \
             (Regenerate), or one of at least 24 random bytes."
        )),
        (_, distinct) if distinct < 10 => Err(
            "This secret repeats a few characters: it is too easy to guess. Use the generated \
             one (Regenerate), or random bytes."
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// Whether `id` could be a webhook's id: not empty, at most 200 bytes, no control character
/// (PostgreSQL refuses a NUL in text, and nothing this page creates holds one). Anything else
/// is "not found" without asking the database.
pub(super) fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control)
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL path segment or query value (everything but unreserved characters
/// percent-encoded).
pub(super) fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_with_the_configured_one_or_the_host() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let same = |pairs: &[(&'static str, &'static str)]| same_origin(&headers(pairs), None);
        assert!(same(&[
            ("host", "lms.example:8080"),
            ("origin", "https://lms.example:8080")
        ]));
        assert!(!same(&[
            ("host", "lms.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(!same(&[
            ("host", "lms.example"),
            ("referer", "https://evil.example/lms.example")
        ]));
        assert!(!same(&[("host", "lms.example"), ("origin", "null")]));
        assert!(!same(&[("host", "lms.example"), ("origin", "lms.example")]));
        assert!(!same(&[
            ("host", "lms.example"),
            ("referer", "https://user@lms.example/x")
        ]));
        assert!(same(&[("host", "lms.example")]));
        // X-Forwarded-Host is not trusted: anyone can send it.
        assert!(!same(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "evil.example"),
            ("origin", "https://evil.example")
        ]));
        // Configured, the origin is compared whole, scheme included.
        let lms = Some("https://lms.example");
        let with = |pairs: &[(&'static str, &'static str)]| same_origin(&headers(pairs), lms);
        assert!(with(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://lms.example")
        ]));
        assert!(with(&[
            ("host", "10.0.0.5"),
            ("referer", "https://LMS.example/settings")
        ]));
        assert!(!with(&[
            ("host", "lms.example"),
            ("origin", "http://lms.example")
        ]));
        assert!(!with(&[
            ("host", "evil.example"),
            ("origin", "https://evil.example")
        ]));
    }

    #[test]
    fn origins_are_parsed_strictly() {
        assert_eq!(
            parse_origin("https://LMS.example/").unwrap(),
            "https://lms.example"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "lms.example",
            "ftp://lms.example",
            "https://lms.example/admin",
            "https://u@lms.example",
            "",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("wh_ab-1.x~"), "wh_ab-1.x~");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("é&="), "%C3%A9%26%3D");
    }
}
