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
//! let app: Router = admin.mount(Router::new(), "/settings/webhooks");
//! // … layer the host's authentication over `app`, then serve it.
//! # let _ = app; Ok(()) }
//! ```

mod form;
mod handlers;
mod health;
mod page;
mod session;

pub use session::{COOKIE as SESSION_COOKIE, DEFAULT_LIFETIME as DEFAULT_SESSION_LIFETIME};

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use lms_webhooks::profile::Profile;
use lms_webhooks::signature::Scheme;
use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::{Secret, SecretError, UrlPolicy};
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

#[derive(Clone)]
struct Inner {
    outbox: Outbox,
    transport: ReqwestTransport,
    policy: UrlPolicy,
    profile: Profile,
    access: Arc<AccessFn>,
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
                access: Arc::new(access),
                csrf_key: Zeroizing::new(key.expose_bytes().to_vec()),
                origin: None,
                session_lifetime: session::DEFAULT_LIFETIME,
            }),
        })
    }

    /// Applies `f` to this `Admin`'s settings. A clone made before (a router already built
    /// from it) keeps the settings it had: this one gets its own copy, so a setter never
    /// silently does nothing.
    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Admin {
        f(Arc::make_mut(&mut self.inner));
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
    /// balancer. A shorter key is refused (the `Admin` is not changed by it, and says why).
    pub fn with_csrf_key(self, key: &[u8]) -> Result<Admin, String> {
        if key.len() < 32 {
            return Err(format!(
                "the CSRF key is {} bytes: at least 32 are needed",
                key.len()
            ));
        }
        Ok(self.edit(|inner| inner.csrf_key = Zeroizing::new(key.to_vec())))
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

    /// Mounts the page at `path` in the host's `router` (any state): its routes nested there,
    /// and `path/` (as browsers and users type it) sent to `path` with a permanent redirect.
    /// With `router()` and the host's own `nest`, `path/` is the host's to route.
    pub fn mount<S>(&self, router: Router<S>, path: &str) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return router.merge(self.router::<S>());
        }
        let target = path.to_owned();
        router.nest(path, self.router::<S>()).route(
            &format!("{path}/"),
            get(
                move |axum::extract::RawQuery(query): axum::extract::RawQuery| {
                    let target = match query {
                        Some(query) => format!("{target}?{query}"),
                        None => target.clone(),
                    };
                    async move { axum::response::Redirect::permanent(&target) }
                },
            ),
        )
    }

    /// The routes, relative to wherever the host nests them: the list at `/`, and
    /// `/{id}/edit`, `/{id}/delete`, `/{id}/log` and the actions under each webhook. The
    /// router carries its own state: it nests in a host's `Router<S>` whatever `S` is.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        use axum::routing::post;
        use handlers::*;
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
            .route("/{id}/attempt", get(attempt))
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
