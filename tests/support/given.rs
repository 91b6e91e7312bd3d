//! Test inputs written the short way: a secret from its text, a time from Unix seconds, a
//! header map from name/value pairs.

#![allow(dead_code)] // each test binary uses its own part

use http::{HeaderMap, HeaderName, HeaderValue};
use lms_webhooks::{Secret, Timestamp};

pub fn secret(s: &str) -> Secret {
    Secret::parse(s).unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}
