//! The pages, as `maud` templates: every value is escaped unless marked otherwise, and
//! nothing here marks one otherwise.

use axum::response::Html;
use lms_webhooks::{Category, Endpoint, EndpointStatus, EventType, OperationalType, Secret};
use maud::{html, Markup, DOCTYPE};
use zeroize::Zeroizing;

use super::form::path_segment;
use super::Ctx;
use crate::LogEntry;

/// The page's script: copy buttons and Select all. Served at `assets/admin.js`.
pub(super) const SCRIPT: &str = r#"// lms-webhooks admin page: copy buttons and "Select all".
document.addEventListener("click", function (e) {
  var button = e.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  field.select();
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
document.addEventListener("change", function (e) {
  if (e.target.name !== "all") return;
  var boxes = e.target.form.querySelectorAll("input[name=events]");
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = e.target.checked;
});
"#;

/// The page's style. Served at `assets/admin.css`.
pub(super) const STYLE: &str = r#"body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2327}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin-top:2rem}
.usage{color:#50575e;margin:0 0 1rem}.notice{background:#f0f6fc;border-left:4px solid #2271b1;padding:.6rem 1rem;margin:1rem 0}
.notice.warn{background:#fcf9e8;border-color:#dba617}.error{color:#b32d2e;font-weight:600;margin:.25rem 0}
form.card,.card{border:1px solid #dcdcde;border-radius:6px;padding:1rem 1.25rem;background:#fff}
label.field{display:block;font-weight:600;margin:.75rem 0 .25rem}input[type=url],input[type=text]{width:100%;max-width:40rem;padding:.4rem;font:inherit}
fieldset{border:1px solid #dcdcde;border-radius:4px;margin:.5rem 0;padding:.4rem .8rem}legend{font-weight:600;text-transform:capitalize}
.events label{display:inline-block;min-width:17rem;margin:.1rem 0;font-weight:400}
.secret{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}.secret input{font-family:ui-monospace,monospace;max-width:24rem}
button,.button{font:inherit;padding:.3rem .8rem;border:1px solid #2271b1;border-radius:4px;background:#2271b1;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.quiet,.button.quiet{background:#fff;color:#2271b1}button.danger{background:#b32d2e;border-color:#b32d2e}
table{border-collapse:collapse;width:100%;margin-top:1rem}th,td{border-bottom:1px solid #dcdcde;padding:.5rem;text-align:left;vertical-align:top}
.badge{display:inline-block;background:#f0f0f1;border-radius:3px;padding:0 .4rem;margin:.1rem;font-size:.85em}
.status-active{color:#007017}.status-paused{color:#996800}.status-failed,.status-disabled{color:#b32d2e}
.actions form{display:inline}.actions{white-space:nowrap}td.excerpt{font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap;word-break:break-all;max-width:24rem}
.health{display:flex;gap:2rem;align-items:flex-end;flex-wrap:wrap}.health dl{display:grid;grid-template-columns:auto auto;gap:.2rem 1rem;margin:0}.health dt{color:#50575e}.health dd{margin:0;font-weight:600}
#health h2{margin-top:0}form.filters{margin-top:1rem}form.filters label{margin-right:.5rem}form.filters input[type=text]{width:20rem}
"#;

/// A form field's error, shown next to it.
pub(super) enum FieldError {
    Url(String),
    Events(String),
    Secret(String),
    MaxInFlight(String),
}

/// The Add New Webhook form as last submitted (or fresh).
pub(super) struct AddForm {
    pub(super) url: String,
    pub(super) events: Vec<String>,
    pub(super) all: bool,
    pub(super) secret: Zeroizing<String>,
    pub(super) error: Option<FieldError>,
}

/// The edit form (no secret: it is kept).
pub(super) struct EditForm {
    pub(super) url: String,
    pub(super) events: Vec<String>,
    pub(super) all: bool,
    /// The cap on deliveries in flight, as typed.
    pub(super) max_in_flight: String,
    pub(super) error: Option<FieldError>,
}

impl EditForm {
    pub(super) fn of(endpoint: &Endpoint, max_in_flight: u32) -> EditForm {
        let patterns = endpoint.filter().patterns();
        EditForm {
            url: endpoint.url().as_str().to_owned(),
            events: EventType::ALL
                .iter()
                .map(|t| t.as_str())
                .chain(OperationalType::ALL.iter().map(|t| t.as_str()))
                .filter(|t| endpoint.subscribes_to(t))
                .map(str::to_owned)
                .collect(),
            all: patterns.iter().any(|p| p == "*"),
            max_in_flight: max_in_flight.to_string(),
            error: None,
        }
    }
}

pub(super) fn layout(ctx: &Ctx, title: &str, content: Markup) -> Html<String> {
    let base = &ctx.base;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    link rel="stylesheet" href={ (base) "/assets/admin.css" };
                    script src={ (base) "/assets/admin.js" } defer {}
                }
                body { (content) }
            }
        }
        .into_string(),
    )
}

fn notice_text(code: &str) -> Option<String> {
    let text = match code {
        "added" => "Webhook added. Its secret key will not be shown again.",
        "saved" => "Webhook saved. Its secret key is unchanged.",
        "deleted" => "Webhook deleted.",
        "paused" => "Webhook paused: its events wait until it is resumed.",
        "resumed" => "Webhook active again.",
        "limit" => "Your plan's webhook limit is reached.",
        "test-delivered" => "Test delivered: the endpoint answered with success.",
        "test-failed" => "Test failed: no answer from the endpoint (see the Delivery Log).",
        "resent" => "Delivery sent again.",
        "resend-busy" => "That delivery is being attempted right now; try again in a moment.",
        other => {
            if let Some(code) = other.strip_prefix("test-delivered-") {
                let code: u16 = code.parse().ok()?;
                return Some(format!("Test delivered: the endpoint answered {code}."));
            }
            if let Some(code) = other.strip_prefix("test-failed-") {
                let code: u16 = code.parse().ok()?;
                return Some(format!("Test failed: the endpoint answered {code}."));
            }
            let n: u64 = other.strip_prefix("recovered-")?.parse().ok()?;
            return Some(format!("{n} failed deliveries sent again."));
        }
    };
    Some(text.to_owned())
}

pub(super) fn status(s: EndpointStatus) -> (&'static str, &'static str) {
    match s {
        EndpointStatus::Active => ("Active", "status-active"),
        EndpointStatus::Paused => ("Paused", "status-paused"),
        EndpointStatus::Disabled => ("Disabled", "status-disabled"),
        EndpointStatus::Failed => ("Failed", "status-failed"),
        _ => ("Unknown", "status-disabled"),
    }
}

/// The URL cut at 60 characters (the whole URL goes in the `title`).
fn truncated(url: &str) -> String {
    if url.chars().count() <= 60 {
        return url.to_owned();
    }
    let mut cut: String = url.chars().take(59).collect();
    cut.push('…');
    cut
}

pub(super) fn when(t: Option<lms_webhooks::Timestamp>) -> String {
    t.map_or_else(
        || "Never".to_owned(),
        |t| {
            let text = t.to_rfc3339();
            format!("{} UTC", text.get(..19).unwrap_or(&text).replace('T', " "))
        },
    )
}

pub(super) fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

fn events_fieldsets(chosen: &[String], all: bool) -> Markup {
    html! {
        div.events {
            label { input type="checkbox" name="all" value="1" checked[all]; " " strong { "Select all" } }
            @for category in Category::ALL {
                fieldset {
                    legend { (category.as_str()) }
                    @for t in EventType::ALL.iter().filter(|t| t.category() == *category) {
                        label {
                            input type="checkbox" name="events" value=(t.as_str())
                                checked[all || chosen.iter().any(|c| c == t.as_str())];
                            " " (t.as_str())
                        }
                    }
                }
            }
            // Not in Select all: news about the tenant's other webhooks, for an operations
            // endpoint.
            fieldset.operational {
                legend { "operational" }
                p.usage { "News about your other webhooks (failing, failed, disabled, recovered; deliveries given up), not included in Select all." }
                @for t in OperationalType::ALL {
                    label {
                        input type="checkbox" name="ops" value=(t.as_str())
                            checked[chosen.iter().any(|c| c == t.as_str())];
                        " " (t.as_str())
                    }
                }
            }
        }
    }
}

fn field_error(error: &Option<FieldError>, which: fn(&FieldError) -> Option<&str>) -> Markup {
    html! {
        @if let Some(message) = error.as_ref().and_then(which) {
            p.error role="alert" { (message) }
        }
    }
}

fn url_error(e: &FieldError) -> Option<&str> {
    match e {
        FieldError::Url(m) => Some(m),
        _ => None,
    }
}

fn max_in_flight_error(e: &FieldError) -> Option<&str> {
    match e {
        FieldError::MaxInFlight(m) => Some(m),
        _ => None,
    }
}

fn events_error(e: &FieldError) -> Option<&str> {
    match e {
        FieldError::Events(m) => Some(m),
        _ => None,
    }
}

fn secret_error(e: &FieldError) -> Option<&str> {
    match e {
        FieldError::Secret(m) => Some(m),
        _ => None,
    }
}

/// One page of the webhooks table: its endpoints, how many the tenant has in all, and the id
/// the next page starts after (none on the last page).
pub(super) struct Listed<'a> {
    pub(super) endpoints: &'a [Endpoint],
    pub(super) used: usize,
    pub(super) next: Option<&'a str>,
    pub(super) first: bool,
}

pub(super) fn list(
    ctx: &Ctx,
    listed: &Listed<'_>,
    form: &AddForm,
    notice: Option<&str>,
    key_pairs: bool,
) -> Html<String> {
    let base = &ctx.base;
    let plan = ctx.access.plan;
    let (endpoints, used) = (listed.endpoints, listed.used);
    let full = plan.limit.is_some_and(|limit| used >= limit);
    layout(
        ctx,
        "Webhooks",
        html! {
            h1 { "Webhooks" }
            p.usage {
                @match plan.limit {
                    Some(limit) => { (used) " of " (limit) " webhook slots in use" }
                    None => { (used) " webhooks (no limit on your plan)" }
                }
            }
            @if let Some(text) = notice.and_then(notice_text) {
                div.notice role="status" { (text) }
            }
            @if full {
                div.notice.warn #limit {
                    "You have reached your plan's limit of " (plan.limit.unwrap_or(used)) " webhooks. "
                    "Upgrade to Pro to configure as many outgoing webhooks as you need."
                }
            } @else {
                h2 { "Add New Webhook" }
                form.card method="post" action={ (base) "/add" } #add {
                    (csrf(ctx))
                    label.field for="url" { "Delivery URL" }
                    input #url type="url" name="url" value=(form.url) required
                        placeholder="https://example.com/webhooks";
                    (field_error(&form.error, url_error))
                    label.field { "Events to Send" }
                    (events_fieldsets(&form.events, form.all))
                    (field_error(&form.error, events_error))
                    label.field for="secret" { "Secret Key" }
                    @let pair = form.secret.starts_with(Secret::WHSK_PREFIX);
                    @let again = if pair { format!("{}?signing=v1a", ctx.home()) } else { ctx.home().to_owned() };
                    div.secret {
                        input #secret type="text" name="secret" value=(form.secret.as_str()) readonly;
                        button.quiet type="button" data-copy="secret" { "Copy" }
                        a.button.quiet href=(again) title="Generate another key" { "Regenerate" }
                    }
                    @if pair {
                        p.usage { "A signing key (Standard Webhooks v1a): keep it to yourself. Receivers verify with its public key, shown on the webhook's edit page. "
                            a href=(ctx.home()) { "Use a shared secret instead" } }
                    } @else {
                        p.usage { "Copy it now: it is not shown again after you save."
                            @if key_pairs { " " a href={ (ctx.home()) "?signing=v1a" } { "Sign with a key pair (v1a) instead" } } }
                    }
                    (field_error(&form.error, secret_error))
                    p { button type="submit" { "Add Webhook" } }
                }
            }
            h2 { "Your webhooks" }
            @if endpoints.is_empty() {
                p { "No webhooks yet." }
            } @else {
                table #webhooks {
                    thead { tr { th { "URL" } th { "Events" } th { "Status" } th { "Last Triggered" } th { "Actions" } } }
                    tbody {
                        @for e in endpoints {
                            (row(ctx, e))
                        }
                    }
                }
            }
            @if !listed.first || listed.next.is_some() {
                p.pages {
                    @if !listed.first { a href=(ctx.home()) { "First page" } " " }
                    @if let Some(after) = listed.next {
                        a href={ (ctx.home()) "?after=" (path_segment(after)) } { "Next page" }
                    }
                }
            }
        },
    )
}

fn row(ctx: &Ctx, e: &Endpoint) -> Markup {
    let base = &ctx.base;
    let id = path_segment(e.id());
    let (label, class) = status(e.status());
    html! {
        tr data-id=(e.id()) {
            td { span.url title=(e.url().as_str()) { (truncated(e.url().as_str())) } }
            td {
                @for p in e.filter().patterns() {
                    span.badge { @if p == "*" { "All events" } @else { (p) } }
                }
            }
            td {
                span class=(class) { (label) }
                @let health = e.health();
                @if health.consecutive_failures > 0 || health.failing_since.is_some() {
                    br;
                    small.failing {
                        @if health.consecutive_failures > 0 {
                            (health.consecutive_failures) " failed in a row"
                        }
                        @if let Some(since) = health.failing_since {
                            @if health.consecutive_failures > 0 { "; " }
                            "failing since " (when(Some(since)))
                        }
                    }
                }
            }
            td { (when(e.last_triggered_at())) }
            td.actions {
                a.button.quiet href={ (base) "/" (id) "/edit" } { "Edit" } " "
                form method="post" action={ (base) "/" (id) "/test" } {
                    (csrf(ctx)) button.quiet type="submit" { "Test" }
                } " "
                @if e.status() == EndpointStatus::Active {
                    form method="post" action={ (base) "/" (id) "/pause" } {
                        (csrf(ctx)) button.quiet type="submit" { "Pause" }
                    }
                } @else {
                    form method="post" action={ (base) "/" (id) "/resume" } {
                        (csrf(ctx)) button.quiet type="submit" { "Resume" }
                    }
                } " "
                @if ctx.access.plan.delivery_log {
                    a.button.quiet href={ (base) "/" (id) "/log" } { "Delivery Log" } " "
                }
                a.button.quiet href={ (base) "/" (id) "/delete" } { "Delete" }
            }
        }
    }
}

pub(super) fn edit(ctx: &Ctx, endpoint: &Endpoint, form: &EditForm) -> Html<String> {
    let base = &ctx.base;
    let id = path_segment(endpoint.id());
    layout(
        ctx,
        "Edit webhook",
        html! {
            p { a href=(ctx.home()) { "← Webhooks" } }
            h1 { "Edit webhook" }
            form.card method="post" action={ (base) "/" (id) "/edit" } #edit {
                (csrf(ctx))
                label.field for="url" { "Delivery URL" }
                input #url type="url" name="url" value=(form.url) required;
                (field_error(&form.error, url_error))
                label.field { "Events to Send" }
                (events_fieldsets(&form.events, form.all))
                (field_error(&form.error, events_error))
                label.field for="max_in_flight" { "Deliveries in flight at most" }
                input #max_in_flight type="number" name="max_in_flight" min="1" max="10000"
                    value=(form.max_in_flight) required;
                (field_error(&form.error, max_in_flight_error))
                p.usage { "However many deliveries wait for this endpoint, at most this many are sent at once, across all workers; the others' deliveries are not held up by it." }
                p.usage { "The secret key is kept: editing does not change it." }
                p { button type="submit" { "Save Webhook" } }
            }
            h2 { "Rotate the secret key" }
            form.card method="post" action={ (base) "/" (id) "/rotate" } #rotate {
                (csrf(ctx))
                p { "A new key is made and shown once. The old one keeps signing beside it for the grace period, so receivers can switch without losing a delivery." }
                label.field for="grace" { "Grace period (hours)" }
                input #grace type="text" inputmode="numeric" name="grace_hours" value="24";
                p { button type="submit" { "Rotate secret" } }
            }
            @if let Some(public) = endpoint.public_key() {
                (public_key_card(&public))
            }
        },
    )
}

/// The `whpk_` public key of a webhook that signs Standard Webhooks `v1a`: not a secret, so
/// shown whenever asked, with a copy button.
fn public_key_card(public: &Secret) -> Markup {
    html! {
        h2 { "Public key" }
        div.card #public-key {
            p { "This webhook signs with a key pair (Standard Webhooks v1a). Receivers verify with this public key; it cannot sign, so it can be shared." }
            div.secret {
                input #public type="text" name="public_key" value=(&*public.expose_text()) readonly;
                button.quiet type="button" data-copy="public" { "Copy" }
            }
        }
    }
}

pub(super) fn confirm_delete(ctx: &Ctx, endpoint: &Endpoint) -> Html<String> {
    let base = &ctx.base;
    let id = path_segment(endpoint.id());
    layout(
        ctx,
        "Delete webhook",
        html! {
            h1 { "Delete webhook?" }
            div.card {
                p { "This permanently removes the webhook to " strong { (endpoint.url().as_str()) } " and stops all future deliveries to that URL." }
                form method="post" action={ (base) "/" (id) "/delete" } #confirm-delete {
                    (csrf(ctx))
                    button.danger type="submit" { "Delete webhook" } " "
                    a.button.quiet href=(ctx.home()) { "Cancel" }
                }
            }
        },
    )
}

pub(super) fn rotated(ctx: &Ctx, id: &str, secret: &str, hours: u64) -> Html<String> {
    layout(
        ctx,
        "New secret key",
        html! {
            h1 { "New secret key" }
            div.card {
                p { "The new secret key of " code { (id) } ". Copy it now: it is not shown again. "
                    "The previous key keeps signing beside it for " (hours) " hours." }
                div.secret {
                    input #secret type="text" name="secret_shown" value=(secret) readonly;
                    button.quiet type="button" data-copy="secret" { "Copy" }
                }
                p { a.button href=(ctx.home()) { "Back to webhooks" } }
            }
            @if let Some(public) = Secret::parse(secret).ok().and_then(|s| s.public_key()) {
                (public_key_card(&public))
            }
        },
    )
}

pub(super) fn log_unavailable(ctx: &Ctx, endpoint: &Endpoint) -> Html<String> {
    layout(
        ctx,
        "Delivery Log",
        html! {
            p { a href=(ctx.home()) { "← Webhooks" } }
            h1 { "Delivery Log" }
            div.notice.warn {
                "The Delivery Log of " code { (endpoint.id()) } " (every delivery, response code and retry) is a Pro feature."
            }
        },
    )
}

/// What the Delivery Log page shows besides its entries.
pub(super) struct LogView<'a> {
    /// The health panel and the filter form.
    pub(super) panel: Markup,
    pub(super) filters: Markup,
    /// The filter as a query string's tail, carried by the paging links.
    pub(super) query: String,
    pub(super) first: bool,
    pub(super) more: bool,
    pub(super) notice: Option<&'a str>,
}

pub(super) fn log(
    ctx: &Ctx,
    endpoint: &Endpoint,
    entries: &[LogEntry],
    view: LogView<'_>,
) -> Html<String> {
    let LogView {
        panel,
        filters,
        query,
        first,
        more,
        notice,
    } = view;
    let base = &ctx.base;
    let id = path_segment(endpoint.id());
    layout(
        ctx,
        "Delivery Log",
        html! {
            p { a href=(ctx.home()) { "← Webhooks" } }
            h1 { "Delivery Log" }
            p.usage { span title=(endpoint.url().as_str()) { (truncated(endpoint.url().as_str())) } }
            @if let Some(text) = notice.and_then(notice_text) {
                div.notice role="status" { (text) }
            }
            (panel)
            form.card method="post" action={ (base) "/" (id) "/recover" } #recover {
                (csrf(ctx))
                label.field for="since" { "Recover failed since… (UTC)" }
                input #since type="datetime-local" name="since" required;
                " " button type="submit" { "Recover" }
            }
            (filters)
            @if entries.is_empty() {
                p #empty { @if query.is_empty() { "No delivery yet." } @else { "No attempt matches." } }
            } @else {
                table #log {
                    thead { tr { th { "Time" } th { "Event" } th { "Attempt" } th { "Response" } th { "Duration" } th { "Result" } th { "Response excerpt" } th {} } }
                    tbody {
                        @for entry in entries {
                            tr {
                                td { (entry.at.get(..19).unwrap_or(&entry.at).replace('T', " ")) }
                                td { code { (entry.event) } }
                                td { (entry.attempt) }
                                td {
                                    @match (&entry.status, &entry.error) {
                                        (Some(code), _) => { (code) }
                                        (None, Some(error)) => { (error) }
                                        (None, None) => { "—" }
                                    }
                                }
                                td { (entry.duration_ms) " ms" }
                                td { (entry.result.replace('_', " ")) }
                                td.excerpt { (entry.excerpt) }
                                td.actions {
                                    a.button.quiet href={ (base) "/" (id) "/attempt?delivery=" (entry.delivery) "&number=" (entry.attempt) } { "Details" }
                                    " "
                                    form method="post" action={ (base) "/" (id) "/resend" } {
                                        (csrf(ctx))
                                        input type="hidden" name="event" value=(entry.event);
                                        button.quiet type="submit" { "Resend" }
                                    }
                                }
                            }
                        }
                    }
                }
                p {
                    @if !first { a href={ (base) "/" (id) "/log?" (query.trim_start_matches('&')) } { "← Newest" } " " }
                    @if let (true, Some(last)) = (more, entries.last()) {
                        a href={ (base) "/" (id) "/log?before=" (path_segment(&last.cursor)) (query) } { "Older →" }
                    }
                }
            }
        },
    )
}

pub(super) fn error_page(message: &str) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; title { "Error" } }
                body { h1 { "Something went wrong" } p { (message) } }
            }
        }
        .into_string(),
    )
}
