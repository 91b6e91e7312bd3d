//! What can go wrong with the store.

use lms_webhooks::endpoint::{EndpointError, UrlError};
use lms_webhooks::{DecryptError, EnvelopeError, KeyError};

/// An operation on the outbox that could not be done. Nothing half-done is left behind: every
/// write runs in one transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// PostgreSQL refused or the connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The master key given is not the one the store was sealed with.
    #[error("the master key does not match the store (it was sealed with another key; re-key with the old one, or pass the right one)")]
    MasterKeyMismatch,
    /// The master key is not 32 bytes.
    #[error("master key: {0}")]
    MasterKey(#[from] KeyError),
    /// The database was migrated by a newer version of this crate.
    #[error("the database is at migration {found}; this version of lms-webhooks-postgres knows up to {known}: upgrade the crate")]
    UnknownMigration {
        /// The highest version applied.
        found: i32,
        /// The highest version this crate knows.
        known: i32,
    },
    /// A row could not be read back (a sealed endpoint whose MAC fails, a delivery that does
    /// not load).
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// Which row.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// An endpoint rule was broken (URL refused, plan limit, duplicate id).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The URL was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The envelope could not be rendered.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The operating system's random source failed (a claim token could not be drawn).
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    /// An endpoint's cap on deliveries in flight is outside 1..=10,000.
    #[error("max in flight: {0} is not between 1 and {max}", max = crate::MAX_IN_FLIGHT)]
    MaxInFlight(u32),
    /// No such endpoint for this tenant.
    #[error("no endpoint `{id}` for tenant `{tenant}`")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// The endpoint id.
        id: String,
    },
}

impl From<DecryptError> for StoreError {
    fn from(e: DecryptError) -> StoreError {
        match e {
            DecryptError::MacMismatch => StoreError::MasterKeyMismatch,
            other => StoreError::Corrupt {
                what: "sealed value".to_owned(),
                reason: other.to_string(),
            },
        }
    }
}
