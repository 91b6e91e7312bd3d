//! Receiving in an axum app (feature `axum`): the [`VerifiedWebhook`] extractor reads the raw
//! body under a size limit, verifies, decrypts, parses and deduplicates it, and hands the
//! handler the event; what it refuses answers itself.
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::post, Router};
//! use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
//! use lms_webhooks::dedupe::MemoryDeduplicator;
//! use lms_webhooks::{Event, Profile, Receiver, Secret};
//!
//! async fn hooks(VerifiedWebhook(got): VerifiedWebhook) -> &'static str {
//!     // First time this event id is seen, signature checked: record it, process it later.
//!     println!("{} {}", got.id, got.event.type_str());
//!     "ok"
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = Receiver::new(Profile::standard())
//!     .with_secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?);
//! let webhooks = WebhookReceiver::new(receiver)
//!     .with_dedupe(MemoryDeduplicator::new(100_000, Duration::from_secs(86_400)));
//! let app: Router = Router::new().route("/hooks", post(hooks)).with_state(webhooks);
//! # let _ = app; Ok(()) }
//! ```
//!
//! Answers, without calling the handler: 413 when the body is over the limit (by its
//! `Content-Length`, or as soon as more bytes arrive than the limit: the body is never
//! buffered past it), the [`ReceiveError`]'s status for a refused request (401 for a bad
//! signature or MAC, 400 for an unreadable envelope), **200** for a retry of an event
//! already received (the sender stops retrying; the handler does not run twice), and 503 when
//! a shared deduplication store cannot answer (the sender retries later).

use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::{FromRef, FromRequest, Request};
use ::axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

use crate::dedupe::AsyncDeduplicator;
use crate::receiver::{ReceiveError, Received, Receiver};
use crate::Timestamp;

/// What the extractor needs: the [`Receiver`], an optional deduplication store, the scope its
/// ids are remembered under, and the body limit. Put it in the router's state (directly, or
/// in a state of your own with [`FromRef`]).
#[derive(Clone)]
pub struct WebhookReceiver {
    receiver: Arc<Receiver>,
    dedupe: Option<Arc<dyn AsyncDeduplicator>>,
    scope: Arc<str>,
    max_body: usize,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("receiver", &self.receiver)
            .field("dedupe", &self.dedupe.is_some())
            .field("scope", &self.scope)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl WebhookReceiver {
    /// Receives with `receiver`: its body limit, no deduplication, ids scoped by the profile's
    /// name.
    pub fn new(receiver: Receiver) -> WebhookReceiver {
        WebhookReceiver {
            scope: receiver.profile().name().into(),
            max_body: receiver.max_body_len(),
            receiver: Arc::new(receiver),
            dedupe: None,
        }
    }

    /// Remembers event ids in `dedupe` (a [`MemoryDeduplicator`](crate::dedupe::MemoryDeduplicator),
    /// or a store shared by several machines): a retry of an event already received is
    /// answered 200 without calling the handler; a store that cannot answer, 503.
    #[must_use]
    pub fn with_dedupe(mut self, dedupe: impl AsyncDeduplicator + 'static) -> Self {
        self.dedupe = Some(Arc::new(dedupe));
        self
    }

    /// The scope ids are remembered under (by default the profile's name): one per endpoint
    /// when a host receives from several.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The receiver.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }
}

/// A webhook request that verified, decrypted and parsed, seen for the first time.
#[derive(Debug, Clone)]
pub struct VerifiedWebhook(pub Received);

/// Why the extractor answered instead of the handler.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request was refused (signature, MAC, envelope, size).
    Refused(ReceiveError),
    /// The body could not be read from the connection.
    Unreadable(String),
    /// A retry of an event already received: answered 200.
    Duplicate {
        /// The event id.
        id: String,
    },
    /// The deduplication store could not answer: answered 503, so that the sender retries.
    DedupeUnavailable(crate::dedupe::DedupeError),
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookRejection::Refused(e) => e.fmt(f),
            WebhookRejection::Unreadable(e) => write!(f, "the body could not be read: {e}"),
            WebhookRejection::Duplicate { id } => write!(f, "event {id} was already received"),
            WebhookRejection::DedupeUnavailable(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WebhookRejection {}

impl IntoResponse for ReceiveError {
    fn into_response(self) -> Response {
        (self.http_status(), self.to_string()).into_response()
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        match self {
            WebhookRejection::Refused(e) => e.into_response(),
            WebhookRejection::Unreadable(e) => (StatusCode::BAD_REQUEST, e).into_response(),
            WebhookRejection::Duplicate { .. } => {
                (StatusCode::OK, "already received").into_response()
            }
            WebhookRejection::DedupeUnavailable(e) => {
                (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
            }
        }
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    WebhookReceiver: FromRef<S>,
{
    type Rejection = WebhookRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let webhooks = WebhookReceiver::from_ref(state);
        let max = webhooks.max_body;
        let (parts, body) = request.into_parts();
        let too_large = |len: usize| WebhookRejection::Refused(ReceiveError::TooLarge { len, max });
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared.filter(|len| *len > max as u64) {
            return Err(too_large(usize::try_from(len).unwrap_or(usize::MAX)));
        }
        // Reads at most `max` bytes: past that, the read stops with an error.
        let bytes = match ::axum::body::to_bytes(Body::new(body), max).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let over = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                return Err(match over {
                    true => too_large(max.saturating_add(1)),
                    false => WebhookRejection::Unreadable(e.to_string()),
                });
            }
        };
        let now = Timestamp::now();
        let received = webhooks
            .receiver
            .receive(now, &parts.headers, &bytes)
            .map_err(WebhookRejection::Refused)?;
        if let Some(dedupe) = &webhooks.dedupe {
            let fresh = dedupe
                .check_and_mark_async(now, &webhooks.scope, &received.id)
                .await
                .map_err(WebhookRejection::DedupeUnavailable)?;
            if !fresh {
                return Err(WebhookRejection::Duplicate { id: received.id });
            }
        }
        Ok(VerifiedWebhook(received))
    }
}
