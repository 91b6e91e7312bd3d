//! The webhooks admin page, embeddable (feature `admin`): an axum [`Router`] the host mounts
//! under its own path, behind its own authentication.
//!
//! The page is the one Learnomy's documentation describes: a usage counter, an **Add New
//! Webhook** form (**Delivery URL**, **Events to Send** grouped by category with **Select
//! all**, **Secret Key** pre-filled with a fresh key, a regenerate link and a copy button, the
//! key never shown again once saved), a table (the URL cut at 60 characters with the whole URL
//! on hover, event badges, **Status**, **Last Triggered** or "Never", **Edit**, **Test**,
//! **Delete** with a confirmation), pause/resume, secret rotation with a grace period, the
//! plan's webhook limit (the form replaced by a notice) and, on plans that have it, a
//! **Delivery Log** per webhook with **Resend** and **Recover failed since…**.
//!
//! **Who may see what is the host's decision.** The crate never authenticates anyone: for
//! each request it calls the host's closure, which reads what the host's own middleware put
//! in the request (a session, a user in the extensions) and answers with the tenant and its
//! [`Plan`], or `None` (403). One tenant's pages and actions only ever load that tenant's
//! endpoints: an id of another tenant's webhook is "not found".
//!
//! **Safe by construction.** Every value is HTML-escaped by the template engine (`maud`): a
//! receiver answering `<script>` shows that text. Every state-changing form carries a CSRF
//! token bound to the tenant and to a browser session the router keeps in its own signed,
//! HttpOnly, `SameSite=Strict` cookie ([`SESSION_COOKIE`], with a lifetime), checked in
//! constant time, and a POST whose `Origin` is not the page's origin is refused: configure it
//! with [`Admin::with_origin`] (`X-Forwarded-Host` is never trusted). Secrets appear once: in
//! the add form before saving, and on the page a rotation answers with; no page may be cached
//! (`Cache-Control: no-store`). The router sends a strict `Content-Security-Policy` (the
//! page's own script and style only, `frame-ancestors 'none'`), `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`: the page's few lines
//! of JavaScript (copy buttons, Select all) and its CSS are served by the router itself, and
//! every action works without JavaScript except copying. Ids no webhook can have are 404 and
//! numbers that do not fit 400 before the database is asked; a database error is a generic
//! 500 whose detail goes to `tracing`. A posted secret must be strong enough; a webhook holds
//! at most 256 event patterns; the table is paginated.
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::Router;
//! use lms_webhooks::transport::ReqwestTransport;
//! use lms_webhooks_postgres::admin::{Access, Admin, Plan};
//! # async fn demo(outbox: lms_webhooks_postgres::Outbox) -> Result<(), Box<dyn std::error::Error>> {
//! /// What the host's own login middleware put in the request.
//! #[derive(Clone)]
//! struct SchoolAdmin { school: String, pro: bool }
//!
//! let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))?;
//! let admin = Admin::new(outbox, transport, |request: &http::request::Parts| {
//!     let user = request.extensions.get::<SchoolAdmin>()?;
//!     let plan = if user.pro { Plan::pro() } else { Plan::free() };
//!     Some(Access::new(user.school.clone(), plan))
//! })?;
//! let app: Router = Router::new().nest("/settings/webhooks", admin.router());
//! // … layer the host's authentication over `app`, then serve it.
//! # let _ = app; Ok(()) }
//! ```

mod form;
mod page;
mod session;

pub use session::{COOKIE as SESSION_COOKIE, DEFAULT_LIFETIME as DEFAULT_SESSION_LIFETIME};

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use lms_webhooks::delivery::Next;
use lms_webhooks::endpoint::{EndpointError, EventFilter};
use lms_webhooks::profile::Profile;
use lms_webhooks::signature::Scheme;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Endpoint, Secret, SecretError, Timestamp, UrlPolicy};
use zeroize::Zeroizing;

use crate::{Outbox, StoreError};
use form::Fields;

/// What a tenant's plan allows on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// How many webhooks the tenant may have (`None`: no limit).
    pub limit: Option<usize>,
    /// Whether the per-webhook Delivery Log is shown.
    pub delivery_log: bool,
}

impl Plan {
    /// Learnomy's Free plan: 3 webhooks, no Delivery Log.
    pub fn free() -> Plan {
        Plan {
            limit: Some(3),
            delivery_log: false,
        }
    }

    /// Learnomy Pro: no limit, the Delivery Log.
    pub fn pro() -> Plan {
        Plan {
            limit: None,
            delivery_log: true,
        }
    }

    /// A plan of the host's own.
    pub fn new(limit: Option<usize>, delivery_log: bool) -> Plan {
        Plan {
            limit,
            delivery_log,
        }
    }
}

/// Who is looking: the tenant whose webhooks the page shows, and its plan. The host's closure
/// returns it for each request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Access {
    /// The tenant (a school, an account).
    pub tenant: String,
    /// Its plan.
    pub plan: Plan,
}

impl Access {
    /// `tenant` on `plan`.
    pub fn new(tenant: impl Into<String>, plan: Plan) -> Access {
        Access {
            tenant: tenant.into(),
            plan,
        }
    }
}

type AccessFn = dyn Fn(&Parts) -> Option<Access> + Send + Sync;

/// The admin page over an [`Outbox`]: build it once, mount [`Admin::router`] where the host
/// wants it.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    outbox: Outbox,
    transport: ReqwestTransport,
    policy: UrlPolicy,
    profile: Profile,
    access: Box<AccessFn>,
    csrf_key: Zeroizing<Vec<u8>>,
    /// The page's origin as the host configured it (`https://lms.example`).
    origin: Option<String>,
    session_lifetime: Duration,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("policy", &self.inner.policy)
            .field("profile", &self.inner.profile.name())
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The page over `outbox`; Test sends with `transport`; `access` tells, for each request,
    /// whose webhooks it may see (see the [module](self) docs). New webhooks get the Standard
    /// Webhooks profile and URLs are checked by the default [`UrlPolicy`] unless set otherwise.
    /// Fails only when the OS random generator does (the CSRF key is drawn from it).
    pub fn new(
        outbox: Outbox,
        transport: ReqwestTransport,
        access: impl Fn(&Parts) -> Option<Access> + Send + Sync + 'static,
    ) -> Result<Admin, SecretError> {
        let key = Secret::generate_standard()?;
        Ok(Admin {
            inner: Arc::new(Inner {
                outbox,
                transport,
                policy: UrlPolicy::new(),
                profile: Profile::standard(),
                access: Box::new(access),
                csrf_key: Zeroizing::new(key.expose_bytes().to_vec()),
                origin: None,
                session_lifetime: session::DEFAULT_LIFETIME,
            }),
        })
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Admin {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    /// The rules delivery URLs must pass (the reason is shown next to the field).
    #[must_use]
    pub fn with_url_policy(self, policy: UrlPolicy) -> Admin {
        self.edit(|inner| inner.policy = policy)
    }

    /// The profile new webhooks get (scheme, layout, retries); its kind of secret is the one
    /// the form pre-fills (a 32-character key for body-HMAC and token schemes, `whsec_…` for
    /// Standard Webhooks).
    #[must_use]
    pub fn with_profile(self, profile: Profile) -> Admin {
        self.edit(|inner| inner.profile = profile)
    }

    /// The key CSRF tokens are made with (at least 32 bytes). By default a random one per
    /// `Admin`; give every process the same key when several serve the page behind one load
    /// balancer. Shorter keys are ignored.
    #[must_use]
    pub fn with_csrf_key(self, key: &[u8]) -> Admin {
        self.edit(|inner| {
            if key.len() >= 32 {
                inner.csrf_key = Zeroizing::new(key.to_vec());
            }
        })
    }

    /// The page's origin as browsers see it, scheme included (`https://lms.example`): a POST
    /// whose `Origin` (or `Referer`) is another is refused, and the session cookie is `Secure`
    /// when it is https. Without it, the `Host` header stands for it (`X-Forwarded-Host` is
    /// never trusted): behind a reverse proxy, set it.
    pub fn with_origin(self, origin: &str) -> Result<Admin, String> {
        let origin = form::parse_origin(origin)?;
        Ok(self.edit(|inner| inner.origin = Some(origin)))
    }

    /// How long a browser session lasts, and with it the CSRF tokens of its forms (12 hours
    /// unless set): a form older than that is refused, and reloading the page starts a new
    /// session. The host's logout should also clear the [`SESSION_COOKIE`].
    #[must_use]
    pub fn with_session_lifetime(self, lifetime: Duration) -> Admin {
        self.edit(|inner| inner.session_lifetime = lifetime)
    }

    /// The routes, relative to wherever the host nests them: the list at `/`, and
    /// `/{id}/edit`, `/{id}/delete`, `/{id}/log` and the actions under each webhook.
    pub fn router(&self) -> Router {
        use axum::routing::post;
        Router::new()
            .route("/", get(list))
            .route("/add", post(add))
            .route("/assets/admin.js", get(script))
            .route("/assets/admin.css", get(style))
            .route("/{id}/edit", get(edit_form).post(edit))
            .route("/{id}/delete", get(delete_form).post(delete))
            .route("/{id}/pause", post(pause))
            .route("/{id}/resume", post(resume))
            .route("/{id}/rotate", post(rotate))
            .route("/{id}/test", post(test))
            .route("/{id}/log", get(log))
            .route("/{id}/resend", post(resend))
            .route("/{id}/recover", post(recover))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.inner),
                session::middleware,
            ))
            .with_state(Arc::clone(&self.inner))
    }
}

impl Inner {
    /// Whether new webhooks may sign with a key pair (Standard Webhooks `v1a`).
    fn key_pairs(&self) -> bool {
        matches!(self.profile.scheme(), Scheme::StandardWebhooks(_))
    }

    /// A fresh secret of the profile's kind, as the form shows it.
    fn fresh_secret(&self) -> Result<Zeroizing<String>, SecretError> {
        let secret = match self.profile.scheme() {
            Scheme::StandardWebhooks(_) => Secret::generate_standard()?,
            _ => Secret::generate_alphanumeric()?,
        };
        Ok(secret.expose_text())
    }
}

/// One request's context: who, where the page is mounted, the browser session and its CSRF
/// token.
struct Ctx {
    access: Access,
    base: String,
    session: String,
    csrf: String,
}

impl FromRequestParts<Arc<Inner>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Inner>) -> Result<Ctx, Response> {
        let Some(access) = (state.access)(parts) else {
            return Err((StatusCode::FORBIDDEN, "forbidden").into_response());
        };
        let origin = state.origin.as_deref();
        if parts.method == axum::http::Method::POST && !form::same_origin(&parts.headers, origin) {
            return Err((StatusCode::FORBIDDEN, "cross-origin form refused").into_response());
        }
        let Some(session::Session(session)) = parts.extensions.get::<session::Session>().cloned()
        else {
            return Err((StatusCode::FORBIDDEN, "no session").into_response());
        };
        let csrf = session::csrf_token(&state.csrf_key, &access.tenant, &session);
        Ok(Ctx {
            access,
            base: form::base_path(parts),
            session,
            csrf,
        })
    }
}

impl Ctx {
    fn tenant(&self) -> &str {
        &self.access.tenant
    }

    /// The form's fields, once its CSRF token is checked; `None` without the right token
    /// (answer with [`csrf_refused`]).
    fn fields(&self, state: &Inner, body: &Bytes) -> Option<Fields> {
        let fields = Fields::parse(body);
        let given = fields.get("csrf");
        session::csrf_ok(&state.csrf_key, self.tenant(), &self.session, given).then_some(fields)
    }

    /// The list's address: where the router is mounted.
    fn home(&self) -> &str {
        match self.base.as_str() {
            "" => "/",
            base => base,
        }
    }

    fn to_list(&self, notice: &str) -> Response {
        Redirect::to(&format!("{}?notice={notice}", self.home())).into_response()
    }

    fn to_log(&self, id: &str, notice: &str) -> Response {
        let id = form::path_segment(id);
        Redirect::to(&format!("{}/{id}/log?notice={notice}", self.base)).into_response()
    }

    /// The refusal of a Delivery Log action on a plan without the log.
    fn without_log(&self) -> Option<Response> {
        let refused = (
            StatusCode::FORBIDDEN,
            "the Delivery Log is not in this plan",
        );
        (!self.access.plan.delivery_log).then(|| refused.into_response())
    }
}

/// A webhook id from the path. One that no webhook can have (empty, over 200 bytes, a
/// control character such as NUL) is "not found" before the database is asked.
struct WebhookId(String);

impl<S: Send + Sync> FromRequestParts<S> for WebhookId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<WebhookId, Response> {
        let not_found = || (StatusCode::NOT_FOUND, "no such webhook").into_response();
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        match form::plausible_id(&id) {
            true => Ok(WebhookId(id)),
            false => Err(not_found()),
        }
    }
}

/// A form without its tenant's CSRF token.
fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, "invalid or missing CSRF token").into_response()
}

/// A failed store operation as a page: 404 for a webhook the tenant does not have, else a
/// generic 500; the detail goes to the host's `tracing` subscriber, never to the page (a
/// database error's text names tables and values).
fn failure(e: StoreError) -> Response {
    match e {
        StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "no such webhook").into_response(),
        other => {
            tracing::error!(error = %other, "webhooks admin page: the store failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                page::error_page("Something went wrong on our side; it has been logged."),
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    notice: Option<String>,
    /// The page of the table: the webhooks after this id.
    after: Option<String>,
    /// `v1a`: the form offers a key pair (Standard Webhooks profiles only).
    signing: Option<String>,
}

async fn list(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    Query(query): Query<ListQuery>,
) -> Response {
    let key_pair = state.key_pairs() && query.signing.as_deref() == Some("v1a");
    let fresh = match key_pair {
        true => Secret::generate_ed25519().map(|s| s.expose_text()),
        false => state.fresh_secret(),
    };
    let secret = match fresh {
        Ok(secret) => secret,
        Err(e) => {
            return failure(StoreError::Corrupt {
                what: "random generator".to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let form = page::AddForm {
        url: String::new(),
        events: Vec::new(),
        all: false,
        secret,
        error: None,
    };
    let after = query.after.as_deref();
    render_list(&state, &ctx, form, query.notice.as_deref(), after).await
}

/// Webhooks per page of the table.
const LIST_PAGE: u32 = 50;

async fn render_list(
    state: &Inner,
    ctx: &Ctx,
    form: page::AddForm,
    notice: Option<&str>,
    after: Option<&str>,
) -> Response {
    let after = after.filter(|id| form::plausible_id(id));
    let outbox = &state.outbox;
    let (used, mut endpoints) = match tokio::try_join!(
        outbox.endpoint_count(ctx.tenant()),
        outbox.endpoints_after(ctx.tenant(), after, LIST_PAGE + 1),
    ) {
        Ok(found) => found,
        Err(e) => return failure(e),
    };
    let more = endpoints.len() > LIST_PAGE as usize;
    endpoints.truncate(LIST_PAGE as usize);
    let next = endpoints.last().filter(|_| more).map(Endpoint::id);
    let listed = page::Listed {
        endpoints: &endpoints,
        used: usize::try_from(used).unwrap_or(usize::MAX),
        next,
        first: after.is_none(),
    };
    page::list(ctx, &listed, &form, notice, state.key_pairs()).into_response()
}

/// The events chosen in a form: every one with `all`, else the checked ones.
fn chosen(fields: &Fields) -> Result<EventFilter, String> {
    if fields.get("all").is_some() {
        return Ok(EventFilter::all());
    }
    let events = fields.all("events");
    if events.is_empty() {
        return Err("Choose at least one event.".to_owned());
    }
    EventFilter::parse(events).map_err(|e| e.to_string())
}

async fn add(State(state): State<Arc<Inner>>, ctx: Ctx, body: Bytes) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    let url = fields.get("url").unwrap_or_default().trim().to_owned();
    let secret_text = Zeroizing::new(fields.get("secret").unwrap_or_default().to_owned());
    let mut form = page::AddForm {
        url: url.clone(),
        events: fields
            .all("events")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        all: fields.get("all").is_some(),
        secret: secret_text.clone(),
        error: None,
    };
    let filter = match chosen(&fields) {
        Ok(filter) => filter,
        Err(e) => {
            form.error = Some(page::FieldError::Events(e));
            return render_list(&state, &ctx, form, None, None).await;
        }
    };
    let secret = match Secret::try_from(secret_text.as_str()).map_err(|e| e.to_string()) {
        Ok(secret) => match form::strong_enough(&secret) {
            Ok(()) => secret,
            Err(e) => {
                form.error = Some(page::FieldError::Secret(e));
                return render_list(&state, &ctx, form, None, None).await;
            }
        },
        Err(e) => {
            form.error = Some(page::FieldError::Secret(e));
            return render_list(&state, &ctx, form, None, None).await;
        }
    };
    let id = match Secret::generate_alphanumeric() {
        Ok(s) => format!("wh_{}", &s.expose_text()[..12]).to_ascii_lowercase(),
        Err(e) => {
            return failure(StoreError::Corrupt {
                what: "random generator".to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let endpoint = match Endpoint::create(Timestamp::now(), id, &url, &state.policy) {
        Ok((endpoint, _generated)) => endpoint
            .with_profile(&state.profile)
            .with_signing(state.profile.scheme().clone(), secret)
            .with_filter(filter),
        Err(e) => {
            form.error = Some(page::FieldError::Url(e.to_string()));
            return render_list(&state, &ctx, form, None, None).await;
        }
    };
    match state
        .outbox
        .add_endpoint(ctx.tenant(), &endpoint, ctx.access.plan.limit)
        .await
    {
        Ok(()) => ctx.to_list("added"),
        Err(StoreError::Endpoint(EndpointError::LimitReached { .. })) => ctx.to_list("limit"),
        Err(e) => failure(e),
    }
}

async fn edit_form(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
) -> Response {
    match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => {
            let form = page::EditForm::of(&endpoint);
            page::edit(&ctx, &endpoint, &form).into_response()
        }
        Err(e) => failure(e),
    }
}

async fn edit(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    let endpoint = match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => endpoint,
        Err(e) => return failure(e),
    };
    let url = fields.get("url").unwrap_or_default().trim().to_owned();
    let mut form = page::EditForm {
        url: url.clone(),
        events: fields
            .all("events")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        all: fields.get("all").is_some(),
        error: None,
    };
    let filter = match chosen(&fields) {
        Ok(filter) => filter,
        Err(e) => {
            form.error = Some(page::FieldError::Events(e));
            return page::edit(&ctx, &endpoint, &form).into_response();
        }
    };
    let policy = state.policy.clone();
    let edited = state
        .outbox
        .edit_endpoint(ctx.tenant(), &id, |e| {
            let now = Timestamp::now();
            // The secret is kept: only the URL and the events change.
            e.set_url(now, &url, &policy)?;
            e.set_filter(now, filter);
            Ok(())
        })
        .await;
    match edited {
        Ok(()) => ctx.to_list("saved"),
        Err(StoreError::Url(e)) => {
            form.error = Some(page::FieldError::Url(e.to_string()));
            page::edit(&ctx, &endpoint, &form).into_response()
        }
        Err(e) => failure(e),
    }
}

async fn delete_form(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
) -> Response {
    match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => page::confirm_delete(&ctx, &endpoint).into_response(),
        Err(e) => failure(e),
    }
}

async fn delete(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    if ctx.fields(&state, &body).is_none() {
        return csrf_refused();
    }
    match state.outbox.delete_endpoint(ctx.tenant(), &id).await {
        Ok(()) => ctx.to_list("deleted"),
        Err(e) => failure(e),
    }
}

async fn set_status(
    state: &Inner,
    ctx: &Ctx,
    id: &str,
    body: &Bytes,
    change: fn(&mut Endpoint, Timestamp),
    notice: &str,
) -> Response {
    if ctx.fields(state, body).is_none() {
        return csrf_refused();
    }
    let edited = state
        .outbox
        .edit_endpoint(ctx.tenant(), id, |e| {
            change(e, Timestamp::now());
            Ok(())
        })
        .await;
    match edited {
        Ok(()) => ctx.to_list(notice),
        Err(e) => failure(e),
    }
}

async fn pause(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    set_status(&state, &ctx, &id, &body, Endpoint::pause, "paused").await
}

/// Resume a paused webhook, or reactivate a failed or disabled one.
async fn resume(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    set_status(&state, &ctx, &id, &body, Endpoint::reactivate, "resumed").await
}

async fn rotate(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    let hours: u64 = fields
        .get("grace_hours")
        .and_then(|h| h.trim().parse().ok())
        .unwrap_or(24)
        .min(24 * 30);
    let rotated = state
        .outbox
        .edit_endpoint(ctx.tenant(), &id, |e| {
            e.rotate_secret(Timestamp::now(), Duration::from_secs(hours * 3600))
                .map_err(|e| StoreError::Corrupt {
                    what: "new secret".to_owned(),
                    reason: e.to_string(),
                })
        })
        .await;
    match rotated {
        Ok(secret) => page::rotated(&ctx, &id, &secret, hours).into_response(),
        Err(e) => failure(e),
    }
}

async fn test(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    if ctx.fields(&state, &body).is_none() {
        return csrf_refused();
    }
    let next = match state
        .outbox
        .test_ping(ctx.tenant(), &id, &state.transport)
        .await
    {
        Ok(next) => next,
        Err(e) => return failure(e),
    };
    // The answer's status code, from the attempt the ping just logged (none: no response).
    let status = match state.outbox.log(ctx.tenant(), None, Some(&id), 1, 0).await {
        Ok(entries) => entries.first().and_then(|e| e.status),
        Err(e) => return failure(e),
    };
    let outcome = if next == Next::Done {
        "delivered"
    } else {
        "failed"
    };
    match status {
        Some(code) => ctx.to_list(&format!("test-{outcome}-{code}")),
        None => ctx.to_list(&format!("test-{outcome}")),
    }
}

#[derive(serde::Deserialize)]
struct LogQuery {
    /// A number that does not fit is refused (400) by the query's parse.
    page: Option<u32>,
    notice: Option<String>,
}

/// The last Delivery Log page one may ask for (5 million attempts back).
const LAST_LOG_PAGE: u32 = 100_000;

/// Attempts per Delivery Log page.
const LOG_PAGE: i64 = 50;

async fn log(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    Query(query): Query<LogQuery>,
) -> Response {
    let endpoint = match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => endpoint,
        Err(e) => return failure(e),
    };
    if !ctx.access.plan.delivery_log {
        return page::log_unavailable(&ctx, &endpoint).into_response();
    }
    let page_number = query.page.unwrap_or(0);
    if page_number > LAST_LOG_PAGE {
        return (StatusCode::BAD_REQUEST, "page: too far back").into_response();
    }
    let page_number = i64::from(page_number);
    match state
        .outbox
        .log(
            ctx.tenant(),
            None,
            Some(&id),
            LOG_PAGE + 1,
            page_number * LOG_PAGE,
        )
        .await
    {
        Ok(mut entries) => {
            let more = entries.len() as i64 > LOG_PAGE;
            entries.truncate(LOG_PAGE as usize);
            page::log(
                &ctx,
                &endpoint,
                &entries,
                page_number,
                more,
                query.notice.as_deref(),
            )
            .into_response()
        }
        Err(e) => failure(e),
    }
}

async fn resend(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    if let Some(refused) = ctx.without_log() {
        return refused;
    }
    let event = fields.get("event").unwrap_or_default();
    let notice = match state
        .outbox
        .resend(ctx.tenant(), event, &id, "admin page", "Resend")
        .await
    {
        Ok(true) => "resent",
        Ok(false) => "resend-busy",
        Err(e) => return failure(e),
    };
    ctx.to_log(&id, notice)
}

async fn recover(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    if let Some(refused) = ctx.without_log() {
        return refused;
    }
    // `datetime-local` sends `YYYY-MM-DDTHH:MM` (or with seconds); the page says it is UTC.
    let since = fields.get("since").unwrap_or_default().trim();
    let text = match since.len() {
        16 => format!("{since}:00Z"),
        _ => format!("{since}Z"),
    };
    let Ok(since) = Timestamp::parse_rfc3339(&text) else {
        return (StatusCode::BAD_REQUEST, "since: expected a date and time").into_response();
    };
    match state
        .outbox
        .recover(
            ctx.tenant(),
            &id,
            since,
            "admin page",
            "Recover failed since",
        )
        .await
    {
        Ok(n) => ctx.to_log(&id, &format!("recovered-{n}")),
        Err(e) => failure(e),
    }
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        page::SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        page::STYLE,
    )
        .into_response()
}
