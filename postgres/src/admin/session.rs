//! What the router does for every request before its handler, and to every response after:
//! the browser session its CSRF tokens are bound to, and the headers that keep the page out of
//! frames, caches and other sites' reach.
//!
//! **The session.** The router sets its own cookie, `lmsw_admin_session`: a random id and the
//! time it was issued, signed with the [`Admin`](super::Admin)'s key (HttpOnly,
//! `SameSite=Strict`, `Secure` when the configured origin is https, limited to where the page
//! is mounted). A form's CSRF token is an HMAC of the tenant *and* that session, so it differs
//! for every browser, dies with the session (12 hours unless set otherwise), and a token from
//! another session is worthless. A POST without a valid session is refused.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;

use super::{form, Inner};

/// The session cookie's name.
pub const COOKIE: &str = "lmsw_admin_session";

/// How long a session (and the CSRF tokens bound to it) lasts by default.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The session of the request, for the handlers (and their CSRF tokens).
#[derive(Debug, Clone)]
pub(super) struct Session(pub(super) String);

fn mac(key: &[u8], what: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(what);
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    Some(mac)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The CSRF token of `tenant` in `session`: hex of HMAC-SHA256(key, tenant, session).
pub(super) fn csrf_token(key: &[u8], tenant: &str, session: &str) -> String {
    mac(
        key,
        b"lms-webhooks admin csrf v2\0",
        &[tenant.as_bytes(), session.as_bytes()],
    )
    .map(|m| hex(&m.finalize().into_bytes()))
    .unwrap_or_default()
}

/// Whether `given` is the token of `tenant` in `session` (compared in constant time).
pub(super) fn csrf_ok(key: &[u8], tenant: &str, session: &str, given: Option<&str>) -> bool {
    let Some(given) = given.filter(|g| g.len() == 64).and_then(unhex) else {
        return false;
    };
    mac(
        key,
        b"lms-webhooks admin csrf v2\0",
        &[tenant.as_bytes(), session.as_bytes()],
    )
    .is_some_and(|m| m.verify_slice(&given).is_ok())
}

/// A cookie value: `<id>.<issued unix>.<mac>`.
fn cookie_value(key: &[u8], id: &str, issued: i64) -> String {
    let issued = issued.to_string();
    let tag = mac(
        key,
        b"lms-webhooks admin session\0",
        &[id.as_bytes(), issued.as_bytes()],
    )
    .map(|m| hex(&m.finalize().into_bytes()))
    .unwrap_or_default();
    format!("{id}.{issued}.{tag}")
}

/// The session id in a cookie value, if its signature holds and it is younger than
/// `lifetime` at `now`.
fn open(key: &[u8], value: &str, now: i64, lifetime: Duration) -> Option<String> {
    let mut parts = value.splitn(3, '.');
    let (id, issued, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let tag = unhex(tag)?;
    let ok = mac(
        key,
        b"lms-webhooks admin session\0",
        &[id.as_bytes(), issued.as_bytes()],
    )?
    .verify_slice(&tag)
    .is_ok();
    let age = now.checked_sub(issued.parse::<i64>().ok()?)?;
    let fresh = (0..=i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)).contains(&age);
    (ok && fresh).then(|| id.to_owned())
}

/// The session cookie's value in `headers`, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Before the handler: the request's session (a new one for a page view without one); a
/// state-changing request needs a valid one. After it: the new session's cookie, and the
/// security headers.
pub(super) async fn middleware(
    State(state): State<Arc<Inner>>,
    mut request: Request,
    next: Next,
) -> Response {
    let now = lms_webhooks::Timestamp::now().unix();
    let existing = cookie(request.headers())
        .and_then(|value| open(&state.csrf_key, value, now, state.session_lifetime));
    let mut issued = None;
    let session = match existing {
        Some(id) => id,
        None if request.method() == axum::http::Method::POST => {
            let refused = "your session expired or is missing: reload the page and try again";
            return secure((axum::http::StatusCode::FORBIDDEN, refused).into_response());
        }
        None => match lms_webhooks::Secret::generate_alphanumeric() {
            Ok(random) => {
                let id = random.expose_text().to_string();
                issued = Some(cookie_value(&state.csrf_key, &id, now));
                id
            }
            Err(_) => {
                let failed = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                return secure(failed.into_response());
            }
        },
    };
    let path = match form::base_path_of(&request) {
        base if base.is_empty() => "/".to_owned(),
        base => base,
    };
    request.extensions_mut().insert(Session(session));
    let mut response = next.run(request).await;
    if let Some(value) = issued {
        let secure = if state
            .origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"))
        {
            "; Secure"
        } else {
            ""
        };
        let set = format!(
            "{COOKIE}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            state.session_lifetime.as_secs()
        );
        if let Ok(set) = HeaderValue::from_str(&set) {
            response.headers_mut().append(header::SET_COOKIE, set);
        }
    }
    secure(response)
}

/// The browser-side protections on every response: a strict Content-Security-Policy (the
/// page's own script and style only; no frame may hold it), `X-Frame-Options: DENY`,
/// `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`, and `Cache-Control:
/// no-store` on everything but the static assets (pages show fresh secrets).
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_tenant_and_session() {
        let key = [7u8; 32];
        let a = csrf_token(&key, "school_a", "s1");
        assert_eq!(a.len(), 64);
        assert!(csrf_ok(&key, "school_a", "s1", Some(&a)));
        assert!(
            !csrf_ok(&key, "school_a", "s2", Some(&a)),
            "another browser"
        );
        assert!(!csrf_ok(&key, "school_b", "s1", Some(&a)));
        assert!(!csrf_ok(&[8u8; 32], "school_a", "s1", Some(&a)));
        assert!(!csrf_ok(&key, "school_a", "s1", None));
        assert!(!csrf_ok(&key, "school_a", "s1", Some(&a[..63])));
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let key = [7u8; 32];
        let value = cookie_value(&key, "abc", 1_000);
        let day = Duration::from_secs(86_400);
        assert_eq!(open(&key, &value, 1_000, day).as_deref(), Some("abc"));
        assert_eq!(
            open(&key, &value, 1_000 + 86_400, day).as_deref(),
            Some("abc")
        );
        assert_eq!(open(&key, &value, 1_000 + 86_401, day), None, "expired");
        assert_eq!(open(&key, &value, 999, day), None, "from the future");
        assert_eq!(open(&[8u8; 32], &value, 1_000, day), None, "another key");
        let forged = value.replacen("abc", "abd", 1);
        assert_eq!(open(&key, &forged, 1_000, day), None);
        let older = value.replacen(".1000.", ".999.", 1);
        assert_eq!(open(&key, &older, 1_000, day), None);
        assert_eq!(open(&key, "garbage", 1_000, day), None);
    }
}
