//! What can go wrong when managing endpoints.

use super::UrlError;
use crate::{EnvelopeError, SecretError};

/// An endpoint operation that could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The URL was refused by the policy.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A secret could not be made.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The registry is full (a plan limit).
    #[error("this plan allows at most {limit} endpoints; remove one or upgrade")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// Another endpoint has this id.
    #[error("an endpoint with id `{0}` already exists")]
    DuplicateId(String),
    /// No endpoint has this id.
    #[error("no endpoint with id `{0}`")]
    NotFound(String),
    /// The test envelope could not be serialized.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}
