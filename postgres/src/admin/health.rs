//! The Delivery Log page's health panel (status with its reason, last triggered, the last 24
//! hours as an SVG bar chart, success rate, p50/p95), its filter form, and an attempt's detail
//! page. Server-rendered: the chart is inline SVG, the filter a GET form; no JavaScript.

use axum::response::Html;
use lms_webhooks::{Endpoint, EndpointStatus, Timestamp};
use maud::{html, Markup};

use super::form::path_segment;
use super::page::{csrf, layout, status, when};
use super::Ctx;
use crate::{HealthReport, LogEntry, LogFilter};

/// The results an attempt can have, as the filter offers them.
pub(super) const RESULTS: [(&str, &str); 3] = [
    ("delivered", "delivered"),
    ("retry", "failed, will retry"),
    ("gave_up", "gave up"),
];

/// Why the endpoint is in its status, in a sentence.
fn reason(endpoint: &Endpoint, report: &HealthReport) -> String {
    let health = endpoint.health();
    let failures = health.consecutive_failures;
    let since = health.failing_since.map(|t| when(Some(t)));
    match (health.status, since) {
        (EndpointStatus::Active, Some(since)) if failures == 0 => format!(
            "Failing since {since}: its attempts fail and are retried; no delivery has given up yet."
        ),
        (EndpointStatus::Active, Some(since)) => format!(
            "Failing since {since}: {failures} deliveries in a row gave up (it turns Failed if this goes on)."
        ),
        (EndpointStatus::Active, None) => "Delivering.".to_owned(),
        (EndpointStatus::Failed, since) => format!(
            "Failed{}: {failures} deliveries in a row gave up. Its deliveries are held until it is re-enabled or a Test gets through.",
            since.map(|s| format!(" (failing since {s})")).unwrap_or_default()
        ),
        (EndpointStatus::Disabled, _) => match report.last_attempt {
            Some((at, Some(410))) => format!(
                "Disabled by a 410 Gone answer at {}: the receiver asked not to be called again.",
                when(Some(at))
            ),
            _ => "Disabled by an operator.".to_owned(),
        },
        (EndpointStatus::Paused, _) => "Paused: its events wait until it is resumed.".to_owned(),
        _ => String::new(),
    }
}

/// The last 24 hours, one bar an hour: delivered attempts in blue, failed ones stacked in red
/// above them; each bar's `title` says its numbers.
fn chart(report: &HealthReport) -> Markup {
    const BAR: u32 = 12;
    const HEIGHT: u32 = 60;
    let most = report
        .hours
        .iter()
        .map(|h| h.attempts)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: u32| (u64::from(n) * u64::from(HEIGHT)).div_ceil(u64::from(most)) as u32;
    let label = format!(
        "Attempts per hour over the last 24 hours: {} in all, {} failed",
        report.attempts,
        report.attempts - report.delivered
    );
    html! {
        svg #chart width=(24 * BAR) height=(HEIGHT + 1) viewBox={ "0 0 " (24 * BAR) " " (HEIGHT + 1) }
            role="img" aria-label=(label) {
            // Closed explicitly: in HTML, an SVG element has no void form (`<rect>` opens one).
            line x1="0" y1=(HEIGHT) x2=(24 * BAR) y2=(HEIGHT) stroke="#dcdcde" {}
            @for (i, hour) in report.hours.iter().enumerate() {
                @let x = i as u32 * BAR;
                @let ago = 23 - i;
                @let ok = scale(hour.attempts - hour.failures.min(hour.attempts));
                @let failed = scale(hour.failures);
                g.bar data-attempts=(hour.attempts) data-failures=(hour.failures) {
                    title {
                        @if ago == 0 { "this hour" } @else { (ago) " h ago" }
                        ": " (hour.attempts) " attempts, " (hour.failures) " failed"
                    }
                    rect x=(x + 1) y=(HEIGHT - ok) width=(BAR - 2) height=(ok) fill="#2271b1" {}
                    rect x=(x + 1) y=(HEIGHT - ok - failed) width=(BAR - 2) height=(failed) fill="#b32d2e" {}
                }
            }
        }
    }
}

/// The health panel at the top of the Delivery Log.
pub(super) fn panel(endpoint: &Endpoint, report: &HealthReport) -> Markup {
    let (label, class) = status(endpoint.status());
    let ms = |v: Option<i64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v} ms"));
    html! {
        section.card #health {
            h2 { "Health" }
            p { span class=(class) { (label) } " — " span #reason { (reason(endpoint, report)) } }
            p { "Last Triggered: " (when(endpoint.health().last_triggered_at)) }
            div.health {
                (chart(report))
                dl {
                    dt { "Last 24 hours" } dd #attempts { (report.attempts) " attempts" }
                    dt { "Success rate" }
                    dd #success-rate {
                        @match report.success_rate() {
                            Some(rate) => { (format!("{:.1} %", rate * 100.0)) }
                            None => { "—" }
                        }
                    }
                    dt { "Latency p50 / p95" } dd #latency { (ms(report.p50_ms)) " / " (ms(report.p95_ms)) }
                }
            }
        }
    }
}

/// The date-and-time field's text for `t` (`YYYY-MM-DDTHH:MM`, UTC).
fn minute(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_rfc3339().chars().take(16).collect())
        .unwrap_or_default()
}

/// The filter form (GET: the filtered log is a link like any other).
pub(super) fn filter_form(ctx: &Ctx, id: &str, filter: &LogFilter) -> Markup {
    let base = &ctx.base;
    let chosen = filter.result.as_deref().unwrap_or("");
    html! {
        form.card.filters method="get" action={ (base) "/" (path_segment(id)) "/log" } #filter {
            label { "Event type " input #type type="text" name="type" list="event-types"
                placeholder="e.g. sales.transaction.completed"
                value=(filter.event_type.as_deref().unwrap_or("")); }
            datalist #event-types {
                @for t in lms_webhooks::EventType::ALL { option value=(t.as_str()) {} }
                @for t in lms_webhooks::OperationalType::ALL { option value=(t.as_str()) {} }
            }
            " "
            label { "Result "
                select #result name="result" {
                    option value="" selected[chosen.is_empty()] { "any" }
                    @for (value, text) in RESULTS { option value=(value) selected[chosen == value] { (text) } }
                }
            }
            " "
            label { "From (UTC) " input #from type="datetime-local" name="from" value=(minute(filter.since)); }
            " "
            label { "To (UTC) " input #to type="datetime-local" name="to" value=(minute(filter.until)); }
            " " button type="submit" { "Filter" }
            " " a href={ (base) "/" (path_segment(id)) "/log" } { "Clear" }
        }
    }
}

/// The filter as a query string's tail (`&type=…&result=…`), for the pages' links.
pub(super) fn filter_query(filter: &LogFilter) -> String {
    let mut out = String::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("&{name}={}", path_segment(&value)));
        }
    };
    add("type", filter.event_type.clone());
    add("result", filter.result.clone());
    add("from", filter.since.map(|t| minute(Some(t))));
    add("to", filter.until.map(|t| minute(Some(t))));
    out
}

/// An attempt's detail: what was sent (the request's headers, rebuilt from the webhook's
/// current settings, the signature left out), what came back, and Resend.
pub(super) fn attempt(
    ctx: &Ctx,
    endpoint: &Endpoint,
    entry: &LogEntry,
    event_type: &str,
    headers: &[(String, String)],
) -> Html<String> {
    let base = &ctx.base;
    let id = path_segment(endpoint.id());
    layout(
        ctx,
        "Attempt",
        html! {
            p { a href={ (base) "/" (id) "/log" } { "← Delivery Log" } }
            h1 { "Attempt " (entry.attempt) " of " code { (entry.event) } }
            table #attempt {
                tbody {
                    tr { th { "Event type" } td { code { (event_type) } } }
                    tr { th { "Started" } td { (entry.at.get(..19).unwrap_or(&entry.at).replace('T', " ")) " UTC" } }
                    tr { th { "Duration" } td #duration { (entry.duration_ms) " ms" } }
                    tr { th { "Response" } td #response {
                        @match (&entry.status, &entry.error) {
                            (Some(code), _) => { (code) }
                            (None, Some(error)) => { (error) }
                            (None, None) => { "—" }
                        }
                    } }
                    tr { th { "Result" } td { (entry.result.replace('_', " ")) } }
                    tr { th { "Response excerpt" } td.excerpt #excerpt { (entry.excerpt) } }
                }
            }
            h2 { "Request headers" }
            p.usage { "As this webhook's current settings build them for this attempt; the signature is not shown." }
            table #headers {
                tbody {
                    @for (name, value) in headers {
                        tr { th { code { (name) } } td { code { (value) } } }
                    }
                }
            }
            form method="post" action={ (base) "/" (id) "/resend" } {
                (csrf(ctx))
                input type="hidden" name="event" value=(entry.event);
                button type="submit" { "Resend" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Hour;

    #[test]
    fn the_chart_closes_every_svg_element() {
        let mut hours = [Hour::default(); 24];
        hours[23] = Hour {
            attempts: 2,
            failures: 1,
        };
        let report = HealthReport {
            hours,
            attempts: 2,
            delivered: 1,
            p50_ms: Some(1),
            p95_ms: Some(2),
            last_attempt: None,
        };
        let svg = chart(&report).into_string();
        // HTML parses `<rect …>` inside SVG as an open element: every one must be closed.
        assert_eq!(svg.matches("<rect").count(), 48);
        assert_eq!(svg.matches("</rect>").count(), 48);
        assert_eq!(svg.matches("</line>").count(), 1);
        // This hour: one delivered (half the height, blue), one failed above it (red).
        assert!(
            svg.contains(r##"<rect x="277" y="30" width="10" height="30" fill="#2271b1"></rect>"##)
        );
        assert!(
            svg.contains(r##"<rect x="277" y="0" width="10" height="30" fill="#b32d2e"></rect>"##)
        );
    }
}
