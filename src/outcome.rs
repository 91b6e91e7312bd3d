//! What one attempt got ([`Outcome`]), which answers count as delivered ([`SuccessRule`]), and
//! how a `Retry-After` answer is read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::format_description::BorrowedFormatItem;
use time::PrimitiveDateTime;

use crate::text::clip;
use crate::Timestamp;

/// What happened to one attempt.
///
/// # Examples
///
/// ```
/// use lms_webhooks::Outcome;
///
/// // A transport turns a response into an outcome: status, Retry-After, a body excerpt.
/// let busy = Outcome::status(429).with_retry_after("120").with_body(b"slow down");
/// assert_eq!(busy.status_code(), Some(429));
/// // And failures that are not responses into outcomes too: they are retried the same way.
/// assert_eq!(Outcome::Timeout.status_code(), None);
/// assert!(matches!(Outcome::error("connection refused"), Outcome::Error { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The endpoint answered.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` header, as sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
        /// The start of the response body (at most [`Outcome::MAX_EXCERPT`] bytes, lossy UTF-8).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        body: String,
    },
    /// No complete answer within the transport's time limit.
    Timeout,
    /// The request could not be sent or the answer not read: DNS, connection refused or reset,
    /// TLS, a refused address.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl Outcome {
    /// How much of a response body is kept in the delivery log.
    pub const MAX_EXCERPT: usize = 1024;

    /// A response with this status.
    pub fn status(status: u16) -> Outcome {
        Outcome::Response {
            status,
            retry_after: None,
            body: String::new(),
        }
    }

    /// The longest error message kept, in characters.
    pub const MAX_MESSAGE: usize = 512;

    /// The longest `Retry-After` value kept, in characters (an HTTP date is 29).
    pub const MAX_RETRY_AFTER: usize = 64;

    /// A response as a transport read it: its status, its `Retry-After` header if any, and
    /// the start of its body (see [`Outcome::with_body`] and [`Outcome::with_retry_after`]).
    pub fn response(status: u16, retry_after: Option<&str>, body: &[u8]) -> Outcome {
        let outcome = Outcome::status(status).with_body(body);
        match retry_after {
            Some(value) => outcome.with_retry_after(value),
            None => outcome,
        }
    }

    /// A failed send. The message is cut to [`Outcome::MAX_MESSAGE`] characters and its control
    /// characters are escaped: it ends up in logs and admin pages.
    pub fn error(message: impl Into<String>) -> Outcome {
        Outcome::Error {
            message: clip(&message.into(), Outcome::MAX_MESSAGE),
        }
    }

    /// Adds a `Retry-After` value (a response only), cut to [`Outcome::MAX_RETRY_AFTER`]
    /// characters with control characters escaped.
    #[must_use]
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Outcome {
        if let Outcome::Response { retry_after, .. } = &mut self {
            *retry_after = Some(clip(&value.into(), Outcome::MAX_RETRY_AFTER));
        }
        self
    }

    /// Keeps the start of the response body (a response only), cut to [`Outcome::MAX_EXCERPT`]
    /// bytes on a character boundary, with control characters other than line breaks and tabs
    /// escaped (a terminal escape in a response must not reach an admin's terminal raw).
    #[must_use]
    pub fn with_body(mut self, bytes: &[u8]) -> Outcome {
        if let Outcome::Response { body, .. } = &mut self {
            *body = excerpt(bytes);
        }
        self
    }

    /// The status code, for a response.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Outcome::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What went wrong when no response came, as a log field or metric label says it:
    /// `"timeout"` or `"connection"`; `None` for a response. (The error's message, which may
    /// name an address, stays in the delivery log.)
    pub fn error_kind(&self) -> Option<&'static str> {
        match self {
            Outcome::Response { .. } => None,
            Outcome::Timeout => Some("timeout"),
            Outcome::Error { .. } => Some("connection"),
        }
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(Outcome::MAX_EXCERPT)];
    let mut text = String::with_capacity(cut.len());
    for c in String::from_utf8_lossy(cut).chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            text.extend(c.escape_default());
        } else {
            text.push(c);
        }
    }
    while text.len() > Outcome::MAX_EXCERPT {
        text.pop();
    }
    text
}

/// Which responses count as delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuccessRule {
    /// Any 2xx status (Standard Webhooks, LearnWorlds, Learnomy).
    #[default]
    Any2xx,
    /// Only 200 (Learnybox: "any response other than 200 is a failure").
    Exactly200,
}

impl SuccessRule {
    /// Whether `status` counts as delivered. Redirects (3xx) never do: they are not followed.
    pub fn is_success(self, status: u16) -> bool {
        match self {
            SuccessRule::Any2xx => (200..300).contains(&status),
            SuccessRule::Exactly200 => status == 200,
        }
    }
}

/// Reads a `Retry-After` value: delay seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`). Returns how long after `now` to wait (zero for a date in
/// the past), or `None` if the value is neither.
pub fn parse_retry_after(now: Timestamp, value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    // Parsed once, at the first date seen (no `time` macros: receivers build without them).
    static IMF_FIXDATE: std::sync::LazyLock<Vec<BorrowedFormatItem<'static>>> =
        std::sync::LazyLock::new(|| {
            time::format_description::parse_borrowed::<2>(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
            )
            .unwrap_or_default()
        });
    let at = PrimitiveDateTime::parse(value, IMF_FIXDATE.as_slice())
        .ok()?
        .assume_utc();
    let at = Timestamp::try_from(at).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(secs).unwrap()
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = at(1_792_567_680); // 2026-10-21T07:28:00Z
        assert_eq!(
            parse_retry_after(now, "120"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(now, " 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(now, "Wed, 21 Oct 2026 07:30:00 GMT"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(now, "Wed, 21 Oct 2026 07:00:00 GMT"),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-5",
            "1.5",
            "soon",
            "Wed, 21 Oct 2026 07:30:00 CET",
            "99999999999999",
        ] {
            assert_eq!(parse_retry_after(now, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn excerpts_are_bounded_and_valid_utf8() {
        let long = "é".repeat(2000);
        let o = Outcome::status(500).with_body(long.as_bytes());
        let Outcome::Response { body, .. } = o else {
            panic!()
        };
        assert!(body.len() <= Outcome::MAX_EXCERPT);
        assert!(body.starts_with("éé"));
    }
}
