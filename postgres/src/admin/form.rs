//! Reading forms and requests: fields (repeated ones too), the CSRF token, the origin check,
//! the path the router is mounted at.

use axum::extract::OriginalUri;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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

/// HMAC-SHA256 keyed with `key` over the tenant (HMAC takes keys of any length: `None` is
/// not reached).
fn mac(key: &[u8], tenant: &str) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(b"lms-webhooks admin csrf\0");
    mac.update(tenant.as_bytes());
    Some(mac)
}

/// The tenant's token: hex of HMAC-SHA256(key, tenant).
pub(super) fn csrf_token(key: &[u8], tenant: &str) -> String {
    let Some(mac) = mac(key, tenant) else {
        return String::new();
    };
    let tag = mac.finalize().into_bytes();
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the tenant's token (compared in constant time).
pub(super) fn csrf_ok(key: &[u8], tenant: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    let Some(bytes) = unhex(given) else {
        return false;
    };
    mac(key, tenant).is_some_and(|mac| mac.verify_slice(&bytes).is_ok())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// False when the request says it comes from another origin: an `Origin` header (or, without
/// one, a `Referer`) whose host is not the host the request was sent to (`X-Forwarded-Host`
/// when a reverse proxy set it, else `Host`: a cross-site form cannot set either). Requests
/// with neither (old clients, tools) rely on the CSRF token alone.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .map(str::trim);
    let Some(host) = host else {
        return true;
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(from) = from else { return true };
    if from == "null" {
        return false;
    }
    let authority = from
        .split_once("://")
        .map_or(from, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    authority.eq_ignore_ascii_case(host)
}

/// Where the router is mounted (`/settings/webhooks`), from the original URI and the path
/// left to the router; empty at the root.
pub(super) fn base_path(parts: &Parts) -> String {
    let inner = parts.uri.path();
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| inner.to_owned(), |o| o.0.path().to_owned());
    let base = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or_default()
    };
    base.to_owned()
}

/// `text` as one URL path segment (everything but unreserved characters percent-encoded).
pub(super) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_per_tenant_and_checked() {
        let key = [7u8; 32];
        let a = csrf_token(&key, "school_a");
        assert_eq!(a.len(), 64);
        assert!(csrf_ok(&key, "school_a", Some(&a)));
        assert!(!csrf_ok(&key, "school_b", Some(&a)));
        assert!(!csrf_ok(&[8u8; 32], "school_a", Some(&a)));
        assert!(!csrf_ok(&key, "school_a", None));
        assert!(!csrf_ok(&key, "school_a", Some("zz")));
        assert!(!csrf_ok(&key, "school_a", Some(&a[..63])));
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(&[
            ("host", "lms.example:8080"),
            ("origin", "https://lms.example:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "lms.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "lms.example"),
            ("referer", "https://evil.example/lms.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "lms.example"),
            ("origin", "null")
        ])));
        assert!(same_origin(&headers(&[("host", "lms.example")])));
        // Behind a reverse proxy: the host the browser used is the forwarded one.
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "lms.example"),
            ("origin", "https://lms.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "lms.example"),
            ("origin", "https://evil.example")
        ])));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("wh_ab-1.x~"), "wh_ab-1.x~");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
