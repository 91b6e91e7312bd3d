//! Receiving in an axum app (feature `axum`): [`WebhookReceiver::layer`] reads the raw body
//! under a size limit and a time limit, verifies, decrypts and parses it, claims the event id,
//! runs the handler, and commits the id only when the handler answered 2xx; the handler takes
//! the event with the [`VerifiedWebhook`] extractor.
//!
//! ```
//! use std::time::Duration;
//! use axum::{http::StatusCode, routing::post, Router};
//! use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
//! use lms_webhooks::dedupe::MemoryDeduplicator;
//! use lms_webhooks::{Profile, Receiver, Secret};
//!
//! async fn handler(VerifiedWebhook(got): VerifiedWebhook) -> StatusCode {
//!     // Signature checked, first time (or the first copies failed): handle it. A non-2xx
//!     // answer releases the id, and the sender's retry runs this again.
//!     println!("{} {}", got.id, got.event.type_str());
//!     StatusCode::OK
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = Receiver::new(Profile::standard())
//!     .with_secret(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?);
//! let webhooks = WebhookReceiver::new(receiver)
//!     .with_dedupe(MemoryDeduplicator::new(100_000, Duration::from_secs(86_400)));
//! let app: Router = Router::new().route("/hooks", post(handler)).layer(webhooks.layer());
//! # let _ = app; Ok(()) }
//! ```
//!
//! # What the layer answers, and when the handler runs
//!
//! | request | answer | handler |
//! |---|---|---|
//! | without the scheme's signature headers | 401, **before the body is read** | no |
//! | body over the limit (`Content-Length`, or as soon as more bytes arrive) | 413; never buffered past the limit | no |
//! | body not read within the read timeout ([`DEFAULT_READ_TIMEOUT`]) | 408 | no |
//! | bad signature or MAC; unreadable envelope | the [`ReceiveError`]'s status (401, 400) | no |
//! | first copy of an event | the handler's answer: 2xx **commits** the id; anything else, an error or a panic **releases** it | yes |
//! | a copy of an event whose handler succeeded (within the store's TTL) | 200 `already received` | no |
//! | a copy that arrives while another copy's handler runs | 409 with `Retry-After` (the sender tries again later) | no |
//! | a copy after a claim whose process died | handled again once the claim's lease ends ([`DEFAULT_LEASE`]) | yes |
//! | the shared deduplication store cannot answer | 503 (the sender retries) | no |
//!
//! So an event is never lost by a failing handler (at least once), and handled once as long
//! as its handler finishes within the lease. Choose a lease longer than your handler's
//! longest run ([`WebhookReceiver::with_lease`]); answer 2xx once the event is recorded, and
//! do slow work afterwards.
//!
//! `Router::layer` wraps every route of the router, and its fallback; with other routes
//! beside the webhook one, put the layer on the webhook route only:
//! `.route("/hooks", post(handler).layer(webhooks.layer()))`.
//!
//! Without the layer, [`VerifiedWebhook`] still verifies, decrypts and parses, with the
//! [`WebhookReceiver`] given as an [`Extension`](::axum::Extension), but it does **not**
//! deduplicate: no step of its own may mark an id before the handler has succeeded.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::axum::body::{Body, Bytes};
use ::axum::extract::{FromRequest, Request};
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};

use crate::dedupe::{AsyncDeduplicator, Claim, ClaimToken, DedupeError};
use crate::receiver::{ReceiveError, Received, Receiver};
use crate::Timestamp;

/// How long a body may take to arrive, by default: 10 s. A webhook body is a few KiB; a
/// client trickling bytes is refused with 408 instead of holding a connection for minutes.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a claim holds an event id while its handler runs, by default: 60 s. A copy that
/// arrives meanwhile is answered 409; a claim whose process died frees the id after it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The receiving side of an axum app: the [`Receiver`], an optional deduplication store, the
/// scope its ids are remembered under, the body's size and time limits, and the claims'
/// lease. [`layer`](Self::layer) makes the tower layer that does the work.
#[derive(Clone)]
pub struct WebhookReceiver {
    receiver: Arc<Receiver>,
    dedupe: Option<Arc<dyn AsyncDeduplicator>>,
    scope: Arc<str>,
    max_body: usize,
    read_timeout: Duration,
    lease: Duration,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("receiver", &self.receiver)
            .field("dedupe", &self.dedupe.is_some())
            .field("scope", &self.scope)
            .field("max_body", &self.max_body)
            .field("read_timeout", &self.read_timeout)
            .field("lease", &self.lease)
            .finish()
    }
}

impl WebhookReceiver {
    /// Receives with `receiver`: its body limit, no deduplication, ids scoped by the profile's
    /// name, [`DEFAULT_READ_TIMEOUT`] and [`DEFAULT_LEASE`].
    pub fn new(receiver: Receiver) -> WebhookReceiver {
        WebhookReceiver {
            scope: receiver.profile().name().into(),
            max_body: receiver.max_body_len(),
            receiver: Arc::new(receiver),
            dedupe: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
            lease: DEFAULT_LEASE,
        }
    }

    /// Claims event ids in `dedupe` (a [`MemoryDeduplicator`](crate::dedupe::MemoryDeduplicator),
    /// or a store shared by several machines) around the handler; see the
    /// [module docs](self) for what each case answers.
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

    /// How long the whole body may take to arrive ([`DEFAULT_READ_TIMEOUT`] unless set);
    /// past it the request is answered 408.
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long a claim holds an event id while its handler runs ([`DEFAULT_LEASE`] unless
    /// set): longer than the handler's longest run, or a copy arriving after it is handled a
    /// second time.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The receiver.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The tower layer: read, verify, decrypt, parse, claim, run the handler, commit or
    /// release. Put it on the webhook route (or on a router that serves only webhooks).
    pub fn layer(&self) -> WebhookLayer {
        WebhookLayer {
            webhooks: self.clone(),
        }
    }

    /// Reads the body within the limits (after checking the headers), then verifies,
    /// decrypts and parses it.
    async fn read(&self, parts: &Parts, body: Body) -> Result<(Received, Bytes), WebhookRejection> {
        let refused = WebhookRejection::Refused;
        self.receiver
            .check_headers(&parts.headers)
            .map_err(refused)?;
        let max = self.max_body;
        let too_large = |len: usize| refused(ReceiveError::TooLarge { len, max });
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared.filter(|len| *len > max as u64) {
            return Err(too_large(usize::try_from(len).unwrap_or(usize::MAX)));
        }
        // Reads at most `max` bytes: past that, the read stops with an error.
        let read = ::axum::body::to_bytes(body, max);
        let bytes = match tokio::time::timeout(self.read_timeout, read).await {
            Err(_) => {
                return Err(WebhookRejection::ReadTimeout {
                    after: self.read_timeout,
                })
            }
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                let over = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                return Err(match over {
                    true => too_large(max.saturating_add(1)),
                    false => WebhookRejection::Unreadable(e.to_string()),
                });
            }
        };
        let received = self
            .receiver
            .receive(Timestamp::now(), &parts.headers, &bytes)
            .map_err(refused)?;
        Ok((received, bytes))
    }
}

/// The tower [`Layer`](tower_layer::Layer) of a [`WebhookReceiver`] (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct WebhookLayer {
    webhooks: WebhookReceiver,
}

impl<S> tower_layer::Layer<S> for WebhookLayer {
    type Service = WebhookService<S>;

    fn layer(&self, inner: S) -> WebhookService<S> {
        WebhookService {
            webhooks: self.webhooks.clone(),
            inner,
        }
    }
}

/// The service [`WebhookLayer`] wraps a route in.
#[derive(Debug, Clone)]
pub struct WebhookService<S> {
    webhooks: WebhookReceiver,
    inner: S,
}

/// What the layer verified, for [`VerifiedWebhook`] (private: nothing else can forge it).
#[derive(Clone)]
struct Verified(Received);

impl<S> tower_service::Service<Request> for WebhookService<S>
where
    S: tower_service::Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone is not ready; the one `poll_ready` readied serves this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let webhooks = self.webhooks.clone();
        Box::pin(async move { Ok(handle(webhooks, inner, request).await) })
    }
}

/// One request through the layer.
async fn handle<S>(webhooks: WebhookReceiver, mut inner: S, request: Request) -> Response
where
    S: tower_service::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let (mut parts, body) = request.into_parts();
    let (received, bytes) = match webhooks.read(&parts, body).await {
        Ok(read) => read,
        Err(rejection) => return rejection.into_response(),
    };
    let id = received.id.clone();
    parts.extensions.insert(Verified(received));
    let request = Request::from_parts(parts, Body::from(bytes));
    let Some(dedupe) = webhooks.dedupe.clone() else {
        return match run(&mut inner, request).await {
            Ok(response) => response,
            Err(panic) => std::panic::resume_unwind(panic),
        };
    };
    let claim = dedupe
        .claim_async(Timestamp::now(), &webhooks.scope, &id, webhooks.lease)
        .await;
    let token = match claim {
        Ok(Claim::Claimed(token)) => token,
        Ok(Claim::Done) => return WebhookRejection::Duplicate { id }.into_response(),
        Ok(Claim::InProgress { retry_after }) => {
            return WebhookRejection::InProgress { id, retry_after }.into_response()
        }
        Err(e) => return WebhookRejection::DedupeUnavailable(e).into_response(),
    };
    // Released if this future is dropped before the end (the client went away mid-handler).
    let mut claim = Held {
        dedupe: Some(dedupe),
        scope: Arc::clone(&webhooks.scope),
        id,
        token,
    };
    match run(&mut inner, request).await {
        Ok(response) => {
            match response.status().is_success() {
                // A failed commit leaves the claim to expire: the next copy is handled again.
                true => claim.commit().await,
                false => claim.release().await,
            }
            response
        }
        Err(panic) => {
            claim.release().await;
            std::panic::resume_unwind(panic)
        }
    }
}

/// Runs the inner service, catching a panic so that the claim is released before it goes on.
async fn run<S>(inner: &mut S, request: Request) -> Result<Response, Box<dyn std::any::Any + Send>>
where
    S: tower_service::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
        Ok(future) => future,
        Err(panic) => return Err(panic),
    };
    match (CatchUnwind {
        future: Box::pin(future),
    })
    .await
    {
        Ok(Ok(response)) => Ok(response.into_response()),
        Ok(Err(never)) => match never {},
        Err(panic) => Err(panic),
    }
}

/// A future whose panics come out as `Err`.
struct CatchUnwind<F> {
    future: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(move || future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// A claim the layer holds while the handler runs: committed or released once, and released
/// on drop if neither happened.
struct Held {
    dedupe: Option<Arc<dyn AsyncDeduplicator>>,
    scope: Arc<str>,
    id: String,
    token: ClaimToken,
}

impl Held {
    async fn commit(&mut self) {
        if let Some(dedupe) = self.dedupe.take() {
            let _ = dedupe
                .commit_async(Timestamp::now(), &self.scope, &self.id, self.token)
                .await;
        }
    }

    async fn release(&mut self) {
        if let Some(dedupe) = self.dedupe.take() {
            let _ = dedupe
                .release_async(Timestamp::now(), &self.scope, &self.id, self.token)
                .await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(dedupe) = self.dedupe.take() else {
            return;
        };
        // Dropped mid-handler: release in the background if a runtime is there; otherwise the
        // claim ends with its lease.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (scope, id, token) = (Arc::clone(&self.scope), self.id.clone(), self.token);
            runtime.spawn(async move {
                let _ = dedupe
                    .release_async(Timestamp::now(), &scope, &id, token)
                    .await;
            });
        }
    }
}

/// A webhook request that verified, decrypted and parsed. Behind
/// [`WebhookReceiver::layer`], also the first copy of its event being handled (or a retry of
/// copies whose handlers failed).
#[derive(Debug, Clone)]
pub struct VerifiedWebhook(pub Received);

/// Why the layer or the extractor answered instead of the handler.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The request was refused (missing signature headers, signature, MAC, envelope, size).
    Refused(ReceiveError),
    /// The body could not be read from the connection.
    Unreadable(String),
    /// The body did not arrive within the read timeout: answered 408.
    ReadTimeout {
        /// The timeout.
        after: Duration,
    },
    /// A copy of an event already handled: answered 200.
    Duplicate {
        /// The event id.
        id: String,
    },
    /// A copy of an event whose handler is running now: answered 409 with `Retry-After`.
    InProgress {
        /// The event id.
        id: String,
        /// When the running claim's lease ends, at the latest.
        retry_after: Duration,
    },
    /// The deduplication store could not answer: answered 503, so that the sender retries.
    DedupeUnavailable(DedupeError),
    /// [`VerifiedWebhook`] found neither the layer's work nor a [`WebhookReceiver`]
    /// extension: answered 500.
    NotConfigured,
}

impl std::fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookRejection::Refused(e) => e.fmt(f),
            WebhookRejection::Unreadable(e) => write!(f, "the body could not be read: {e}"),
            WebhookRejection::ReadTimeout { after } => {
                write!(f, "the body did not arrive within {} ms", after.as_millis())
            }
            WebhookRejection::Duplicate { id } => write!(f, "event {id} was already received"),
            WebhookRejection::InProgress { id, .. } => {
                write!(f, "event {id} is being handled now: retry later")
            }
            WebhookRejection::DedupeUnavailable(e) => e.fmt(f),
            WebhookRejection::NotConfigured => f.write_str(
                "VerifiedWebhook needs WebhookReceiver::layer() on its route (or the \
                 WebhookReceiver as an Extension)",
            ),
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
        let text = self.to_string();
        match self {
            WebhookRejection::Refused(e) => e.into_response(),
            WebhookRejection::Unreadable(_) => (StatusCode::BAD_REQUEST, text).into_response(),
            WebhookRejection::ReadTimeout { .. } => {
                (StatusCode::REQUEST_TIMEOUT, text).into_response()
            }
            WebhookRejection::Duplicate { .. } => {
                (StatusCode::OK, "already received").into_response()
            }
            WebhookRejection::InProgress { retry_after, .. } => {
                // Whole seconds, rounded up, at least one.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut response = (StatusCode::CONFLICT, text).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                response
            }
            WebhookRejection::DedupeUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
            }
            WebhookRejection::NotConfigured => {
                (StatusCode::INTERNAL_SERVER_ERROR, text).into_response()
            }
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for VerifiedWebhook {
    type Rejection = WebhookRejection;

    async fn from_request(mut request: Request, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(Verified(received)) = request.extensions_mut().remove::<Verified>() {
            return Ok(VerifiedWebhook(received));
        }
        // Without the layer: verify and parse, never deduplicate.
        let webhooks = request
            .extensions()
            .get::<WebhookReceiver>()
            .cloned()
            .ok_or(WebhookRejection::NotConfigured)?;
        let (parts, body) = request.into_parts();
        let (received, _) = webhooks.read(&parts, body).await?;
        Ok(VerifiedWebhook(received))
    }
}
