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

/// A handler of the host's may return a `StoreError` as it is: what the client did wrong is a
/// 4xx that says so (404 for a webhook that is not there, 422 for a rule broken), the
/// database away a 503, anything else a 500; a 5xx body says nothing of the internals (the
/// error goes to `tracing`).
#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
impl axum::response::IntoResponse for StoreError {
    fn into_response(self) -> axum::response::Response {
        use http::StatusCode;
        let status = match &self {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::MaxInFlight(_)
            | StoreError::Endpoint(_)
            | StoreError::Url(_)
            | StoreError::Envelope(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "lms-webhooks-postgres");
            let text = status.canonical_reason().unwrap_or("error");
            return (status, text).into_response();
        }
        (status, self.to_string()).into_response()
    }
}

#[cfg(all(test, feature = "admin"))]
mod tests {
    use axum::response::IntoResponse;

    use super::StoreError;

    #[tokio::test]
    async fn store_errors_answer_with_a_status_and_no_internals() {
        let not_found = StoreError::NotFound {
            tenant: "t".into(),
            id: "crm".into(),
        };
        assert_eq!(not_found.into_response().status(), 404);
        assert_eq!(StoreError::MaxInFlight(0).into_response().status(), 422);
        let corrupt = StoreError::Corrupt {
            what: "delivery 7".into(),
            reason: "secret detail".into(),
        };
        let response = corrupt.into_response();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"Internal Server Error");
        let db = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(db.into_response().status(), 503);
    }
}
