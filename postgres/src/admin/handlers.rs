//! The page's handlers: the list and its add form, edit, delete, status changes, rotation,
//! the Test button, and the Delivery Log (with its health panel and filters, an attempt's
//! detail) with Resend and Recover.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use lms_webhooks::delivery::Next;
use lms_webhooks::endpoint::{EndpointError, EventFilter};
use lms_webhooks::{Endpoint, Secret, Timestamp};
use zeroize::Zeroizing;

use super::form::{self, Fields};
use super::{csrf_refused, failure, health, page, Ctx, Inner, WebhookId};
use crate::{LogFilter, StoreError};

#[derive(serde::Deserialize)]
pub(super) struct ListQuery {
    notice: Option<String>,
    /// The page of the table: the webhooks after this id.
    after: Option<String>,
    /// `v1a`: the form offers a key pair (Standard Webhooks profiles only).
    signing: Option<String>,
}

pub(super) async fn list(
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

pub(super) async fn render_list(
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

/// The events chosen in a form: every platform event with `all`, else the checked ones; and
/// the checked operational events (which `all` does not include).
fn chosen(fields: &Fields) -> Result<EventFilter, String> {
    let operational = fields.all("ops");
    let mut patterns = match fields.get("all") {
        Some(_) => vec!["*"],
        None => fields.all("events"),
    };
    patterns.extend(operational);
    if patterns.is_empty() {
        return Err("Choose at least one event.".to_owned());
    }
    EventFilter::parse(patterns).map_err(|e| e.to_string())
}

/// The boxes checked in a form, platform and operational events, to show it again.
fn checked(fields: &Fields) -> Vec<String> {
    let mut events = fields.all("events");
    events.extend(fields.all("ops"));
    events.into_iter().map(str::to_owned).collect()
}

pub(super) async fn add(State(state): State<Arc<Inner>>, ctx: Ctx, body: Bytes) -> Response {
    let Some(fields) = ctx.fields(&state, &body) else {
        return csrf_refused();
    };
    let url = fields.get("url").unwrap_or_default().trim().to_owned();
    let secret_text = Zeroizing::new(fields.get("secret").unwrap_or_default().to_owned());
    let mut form = page::AddForm {
        url: url.clone(),
        events: checked(&fields),
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

pub(super) async fn edit_form(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
) -> Response {
    let endpoint = match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => endpoint,
        Err(e) => return failure(e),
    };
    match state.outbox.max_in_flight(ctx.tenant(), &id).await {
        Ok(cap) => page::edit(&ctx, &endpoint, &page::EditForm::of(&endpoint, cap)).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn edit(
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
        events: checked(&fields),
        all: fields.get("all").is_some(),
        max_in_flight: fields
            .get("max_in_flight")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        error: None,
    };
    let filter = match chosen(&fields) {
        Ok(filter) => filter,
        Err(e) => {
            form.error = Some(page::FieldError::Events(e));
            return page::edit(&ctx, &endpoint, &form).into_response();
        }
    };
    // A form without the field (an older page, a script) keeps the cap as it is.
    let sent = fields.get("max_in_flight").is_some();
    let cap = match form.max_in_flight.parse::<u32>() {
        _ if !sent => None,
        Ok(n) if (1..=crate::MAX_IN_FLIGHT).contains(&n) => Some(n),
        _ => {
            form.error = Some(page::FieldError::MaxInFlight(format!(
                "Enter a whole number from 1 to {}.",
                crate::MAX_IN_FLIGHT
            )));
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
    let edited = match edited {
        Ok(()) => match cap {
            Some(cap) => state.outbox.set_max_in_flight(ctx.tenant(), &id, cap).await,
            None => Ok(()),
        },
        Err(e) => Err(e),
    };
    match edited {
        Ok(()) => ctx.to_list("saved"),
        Err(StoreError::Url(e)) => {
            form.error = Some(page::FieldError::Url(e.to_string()));
            page::edit(&ctx, &endpoint, &form).into_response()
        }
        Err(e) => failure(e),
    }
}

pub(super) async fn delete_form(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
) -> Response {
    match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => page::confirm_delete(&ctx, &endpoint).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn delete(
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

pub(super) async fn set_status(
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

pub(super) async fn pause(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    set_status(&state, &ctx, &id, &body, Endpoint::pause, "paused").await
}

/// Resume a paused webhook, or reactivate a failed or disabled one.
pub(super) async fn resume(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    body: Bytes,
) -> Response {
    set_status(&state, &ctx, &id, &body, Endpoint::reactivate, "resumed").await
}

pub(super) async fn rotate(
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

pub(super) async fn test(
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
pub(super) struct LogQuery {
    /// The entries older than this position (a log cursor); the newest without it.
    before: Option<String>,
    /// The page by number, for links made before positions (offset paging; a number that does
    /// not fit is refused, 400, by the query's parse).
    page: Option<u32>,
    notice: Option<String>,
    /// Filters (empty fields are no filter): the event type, the result, a date range (UTC).
    #[serde(rename = "type")]
    event_type: Option<String>,
    result: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl LogQuery {
    /// The filters, or why one is refused.
    fn filter(&self) -> Result<LogFilter, &'static str> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let mut filter = LogFilter::new();
        if let Some(t) = given(&self.event_type) {
            if t.len() > 128 {
                return Err("type: too long");
            }
            filter = filter.event_type(t);
        }
        if let Some(r) = given(&self.result) {
            if !health::RESULTS.iter().any(|(value, _)| *value == r) {
                return Err("result: expected delivered, retry or gave_up");
            }
            filter = filter.result(r);
        }
        if let Some(from) = given(&self.from) {
            filter = filter.since(utc_minute(from).ok_or("from: expected a date and time")?);
        }
        if let Some(to) = given(&self.to) {
            filter = filter.until(utc_minute(to).ok_or("to: expected a date and time")?);
        }
        Ok(filter)
    }
}

/// A `datetime-local` field's value (`YYYY-MM-DDTHH:MM`, or with seconds), read as UTC (the
/// page says so).
fn utc_minute(text: &str) -> Option<Timestamp> {
    let text = match text.len() {
        16 => format!("{text}:00Z"),
        _ => format!("{text}Z"),
    };
    Timestamp::parse_rfc3339(&text).ok()
}

/// The last Delivery Log page one may ask for (5 million attempts back).
const LAST_LOG_PAGE: u32 = 100_000;

/// Attempts per Delivery Log page.
const LOG_PAGE: i64 = 50;

pub(super) async fn log(
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
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(refused) => return (StatusCode::BAD_REQUEST, refused).into_response(),
    };
    let pool = state.outbox.pool();
    let entries = match query.page {
        Some(page) if page > LAST_LOG_PAGE => {
            return (StatusCode::BAD_REQUEST, "page: too far back").into_response();
        }
        // Links made before positions: offset paging, unfiltered.
        Some(page) if query.before.is_none() => {
            let offset = i64::from(page) * LOG_PAGE;
            let outbox = &state.outbox;
            outbox
                .log(ctx.tenant(), None, Some(&id), LOG_PAGE + 1, offset)
                .await
        }
        // Keyset: a deep page costs what the first does.
        _ => {
            let before = query.before.as_deref();
            let found =
                crate::log_filtered(pool, ctx.tenant(), Some(&id), &filter, before, LOG_PAGE + 1)
                    .await;
            match found {
                Ok(Ok(entries)) => Ok(entries),
                Ok(Err(e)) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
                Err(e) => Err(e),
            }
        }
    };
    let report = match state.outbox.health_report(ctx.tenant(), &id).await {
        Ok(report) => report,
        Err(e) => return failure(e),
    };
    match entries {
        Ok(mut entries) => {
            let more = entries.len() as i64 > LOG_PAGE;
            entries.truncate(LOG_PAGE as usize);
            let view = page::LogView {
                panel: health::panel(&endpoint, &report),
                filters: health::filter_form(&ctx, &id, &filter),
                query: health::filter_query(&filter),
                first: query.before.is_none() && query.page.unwrap_or(0) == 0,
                more,
                notice: query.notice.as_deref(),
            };
            page::log(&ctx, &endpoint, &entries, view).into_response()
        }
        Err(e) => failure(e),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct AttemptQuery {
    delivery: i64,
    number: i32,
}

/// An attempt's detail: its response, and the request's headers (rebuilt from the webhook's
/// settings for the attempt's time and event; the signature header left out).
pub(super) async fn attempt(
    State(state): State<Arc<Inner>>,
    ctx: Ctx,
    WebhookId(id): WebhookId,
    Query(query): Query<AttemptQuery>,
) -> Response {
    if let Some(refused) = ctx.without_log() {
        return refused;
    }
    let endpoint = match state.outbox.endpoint(ctx.tenant(), &id).await {
        Ok(endpoint) => endpoint,
        Err(e) => return failure(e),
    };
    let pool = state.outbox.pool();
    let found = crate::log::attempt(pool, ctx.tenant(), &id, query.delivery, query.number).await;
    let (entry, event_type) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such attempt").into_response(),
        Err(e) => return failure(e),
    };
    let headers = request_headers(&endpoint, &entry);
    health::attempt(&ctx, &endpoint, &entry, &event_type, &headers).into_response()
}

/// The headers a request of `entry`'s attempt carries with the endpoint's settings as they are
/// now, without the one that carries the signature (or token).
fn request_headers(endpoint: &Endpoint, entry: &crate::LogEntry) -> Vec<(String, String)> {
    let at = Timestamp::parse_rfc3339(&entry.at).unwrap_or_else(|_| Timestamp::now());
    let target = endpoint.target(at);
    let scheme = target.scheme();
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "user-agent".to_owned(),
            lms_webhooks::delivery::USER_AGENT.to_owned(),
        ),
    ];
    let message = lms_webhooks::signature::Message::new(&entry.event, at, b"");
    if let Ok(signed) = scheme.sign(target.secrets(), &message) {
        let hidden = scheme.signature_header();
        for (name, value) in &signed {
            if *name != hidden {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                headers.push((name.as_str().to_owned(), value));
            }
        }
    }
    headers
}

pub(super) async fn resend(
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

pub(super) async fn recover(
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
    let Some(since) = utc_minute(since) else {
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

pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        page::SCRIPT,
    )
        .into_response()
}

pub(super) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        page::STYLE,
    )
        .into_response()
}
