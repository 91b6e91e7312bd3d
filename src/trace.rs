//! The `tracing` events (feature `tracing`; the crate documentation's "Tracing" section says
//! which, with which fields). Without the feature, functions that do nothing.

use crate::delivery::{Delivery, Next};
use crate::receiver::{ReceiveError, Received};

/// Reports the attempt `delivery` has just recorded, which decided `next`.
#[cfg(feature = "tracing")]
pub(crate) fn attempt(delivery: &Delivery, next: Next) {
    let Some(attempt) = delivery.attempts().last() else {
        return;
    };
    let (status, error) = (attempt.outcome.status_code(), attempt.outcome.error_kind());
    macro_rules! attempt_event {
        ($level:ident, $outcome:literal) => {
            tracing::$level!(
                endpoint = %delivery.endpoint_id(),
                event = %delivery.event_id(),
                attempt = attempt.number,
                status = status,
                error = error,
                duration_ms = attempt.duration_ms,
                outcome = $outcome,
                "webhook attempt"
            )
        };
    }
    match next {
        Next::Done => attempt_event!(debug, "delivered"),
        Next::RetryAt(_) => attempt_event!(info, "retry"),
        Next::GaveUp(_) => attempt_event!(warn, "gave_up"),
    }
}

/// Reports the attempt `delivery` has just recorded (no `tracing` feature: nothing).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn attempt(_delivery: &Delivery, _next: Next) {}

/// Reports what a receiver of `profile` made of a request.
#[cfg(feature = "tracing")]
pub(crate) fn received(profile: &str, result: &Result<Received, ReceiveError>) {
    match result {
        Ok(got) => tracing::debug!(
            profile = profile,
            event = %got.id,
            event_type = %got.event.type_str(),
            secret_index = got.secret_index,
            "webhook received"
        ),
        Err(e) => {
            let reason = match e {
                ReceiveError::TooLarge { .. } => "too_large",
                ReceiveError::Misconfigured(_) => "misconfigured",
                ReceiveError::Signature(_) => "signature",
                #[cfg(feature = "encryption")]
                ReceiveError::Decrypt(_) => "decrypt",
                ReceiveError::Payload(_) => "payload",
                ReceiveError::TooOld { .. } => "too_old",
            };
            let status = e.http_status().as_u16();
            match e {
                ReceiveError::Misconfigured(_) => {
                    tracing::warn!(profile = profile, reason, status, "webhook received")
                }
                _ => tracing::info!(profile = profile, reason, status, "webhook received"),
            }
        }
    }
}

/// Reports what a receiver made of a request (no `tracing` feature: nothing).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn received(_profile: &str, _result: &Result<Received, ReceiveError>) {}
