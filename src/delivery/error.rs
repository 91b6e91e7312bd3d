//! One error enum per delivery operation, each with only the variants that operation can
//! produce: building a request ([`RequestError`]), recording an outcome ([`RecordError`]), a
//! manual operation ([`OperationError`]) and loading a stored delivery ([`LoadError`]).

use super::{GiveUpReason, State};
#[cfg(feature = "encryption")]
use crate::encryption::EncryptError;
use crate::signature::SignError;
use crate::status::EndpointStatus;

/// Why no request was built for the next attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The endpoint is `Paused` or `Failed`: the delivery is held, unchanged, and continues
    /// once the endpoint is active again. Nothing is lost; ask again later.
    #[error("the endpoint is {status:?}: the delivery is held until it is active again")]
    Held {
        /// The endpoint's status.
        status: EndpointStatus,
    },
    /// The endpoint is disabled or deleted: the delivery gave up just now, and its operations
    /// log says so. Persist it.
    #[error("the delivery ended: {reason:?}")]
    Ended {
        /// [`GiveUpReason::EndpointDisabled`] or [`GiveUpReason::EndpointDeleted`].
        reason: GiveUpReason,
    },
    /// An attempt is in flight: record its outcome first.
    #[error("attempt {attempt} is in flight: record its outcome before building another request")]
    InFlight {
        /// The attempt in flight.
        attempt: u32,
    },
    /// The delivery is over (done or given up).
    #[error("the delivery is already finished ({0:?})")]
    Finished(State),
    /// The target is another endpoint's.
    #[error("the delivery is for endpoint `{delivery}`, the target is endpoint `{target}`")]
    WrongEndpoint {
        /// The delivery's endpoint id.
        delivery: String,
        /// The target's endpoint id.
        target: String,
    },
    /// The body could not be encrypted.
    #[cfg(feature = "encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Why an outcome could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// No attempt is in flight (recorded twice, or never sent).
    #[error("no attempt is in flight: build a request first")]
    NotInFlight,
    /// The delivery is over (done, given up, or canceled while the attempt was in flight).
    #[error("the delivery is already finished ({0:?})")]
    Finished(State),
}

/// Why a manual operation (resend, recover, cancel) was refused. The delivery is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// An attempt is in flight: record its outcome first.
    #[error("attempt {attempt} is in flight: record its outcome first")]
    InFlight {
        /// The attempt in flight.
        attempt: u32,
    },
    /// The delivery is over and cannot be canceled.
    #[error("the delivery is already finished ({0:?})")]
    Finished(State),
    /// Only deliveries that failed can be recovered.
    #[error("only a delivery that gave up can be recovered; this one is {0:?}")]
    NotFailed(State),
}

/// Why a stored delivery could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Not JSON, or not a delivery's fields.
    #[error("the stored delivery does not parse: {message}")]
    Malformed {
        /// What serde_json said.
        message: String,
    },
    /// Written by another version of this crate, in a format this one does not read.
    #[error("the stored delivery has format version {found}; this version of lms-webhooks reads {supported}")]
    UnknownFormat {
        /// The version found.
        found: u64,
        /// The version this crate reads.
        supported: u32,
    },
    /// The fields contradict each other (e.g. an attempt in flight that the log does not
    /// lead to).
    #[error("the stored delivery is inconsistent: {0}")]
    Inconsistent(&'static str),
}
