//! Quickstart: the whole story in a few seconds, on loopback.
//!
//! 1. A receiver app starts on 127.0.0.1 with three webhook routes, one per platform profile.
//! 2. The LMS registers three endpoints: Standard Webhooks, Learnybox (encrypted, 200 only)
//!    and Learnomy (hex HMAC), whose app is down for the sale's first two attempts.
//! 3. The LMS fans out a sale, a course completion and push notifications; every delivery
//!    runs on its platform's retry schedule, sped up 600 times.
//! 4. The receiver verifies, decrypts, deduplicates and prints the typed events; the LMS prints
//!    its delivery log.
//!
//! Run with `cargo run --example quickstart`.

#[path = "support/inbound.rs"]
mod inbound;

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use lms_webhooks::dedupe::{Claim, Deduplicator, MemoryDeduplicator};
use lms_webhooks::delivery::{Delivery, Next};
use lms_webhooks::delivery::{Outcome, SuccessRule};
use lms_webhooks::endpoint::{fan_out, Endpoint, EventFilter, Registry, UrlPolicy};
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::retry::RetrySchedule;
use lms_webhooks::signature::BodyHmacHex;
use lms_webhooks::transport::{BlockingTransport, UreqTransport};
use lms_webhooks::{EncryptionKey, Envelope, Event, EventType, Scheme, Secret, Timestamp};

const SPEEDUP: u32 = 600;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Timestamp::now();

    // ── The LMS registers three endpoints ───────────────────────────────────────────────
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        server.server_addr().to_ip().ok_or("no address")?
    );
    let policy = UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true); // loopback demo only
    let mut registry = Registry::learnomy_free();

    let (standard, standard_secret) =
        Endpoint::create(now, "ep_standard", &format!("{base}/standard"), &policy)?;
    registry.add(standard)?;

    let key = EncryptionKey::parse("Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a")?;
    let (learnybox, _) =
        Endpoint::create(now, "ep_learnybox", &format!("{base}/learnybox"), &policy)?;
    registry.add(
        learnybox
            .with_signing(Scheme::standard(), Secret::from_key(*key.expose_bytes())?)
            .with_encryption(key.clone())
            .with_delivery(
                RetrySchedule::learnybox().with_speed_up(SPEEDUP),
                SuccessRule::Exactly200,
            )
            .with_filter(EventFilter::parse(["sales.*", "course.*"])?),
    )?;

    let learnomy_secret = Secret::generate_alphanumeric()?;
    let (learnomy, _) = Endpoint::create(now, "ep_learnomy", &format!("{base}/learnomy"), &policy)?;
    registry.add(
        learnomy
            .with_signing(BodyHmacHex::learnomy(), learnomy_secret.clone())
            .with_delivery(
                RetrySchedule::learnybox().with_speed_up(SPEEDUP),
                SuccessRule::Any2xx,
            ),
    )?;
    let (used, limit) = registry.usage();
    println!(
        "LMS: {used} of {} endpoints registered",
        limit.unwrap_or(used)
    );

    // ── The receiver app ─────────────────────────────────────────────────────────────────
    let mut receivers = HashMap::new();
    receivers.insert(
        "/standard",
        Receiver::new(Profile::standard()).with_secret(Secret::parse(&standard_secret)?),
    );
    receivers.insert(
        "/learnybox",
        Receiver::new(Profile::learnybox()).with_key(key),
    );
    receivers.insert(
        "/learnomy",
        Receiver::new(Profile::learnomy()).with_secret(learnomy_secret),
    );
    let (events_tx, events_rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let seen = MemoryDeduplicator::new(10_000, Duration::from_secs(86_400));
        let mut learnomy_failures = 0;
        while let Ok(Some(mut request)) = server.recv_timeout(Duration::from_secs(10)) {
            let path = request.url().to_owned();
            let (headers, body) = inbound::read(&mut request);
            let Some(receiver) = receivers.get(path.as_str()) else {
                let _ = request.respond(tiny_http::Response::empty(404));
                continue;
            };
            match receiver.receive(Timestamp::now(), &headers, &body) {
                Ok(got) => {
                    if path == "/learnomy"
                        && got.event.event_type() == Some(EventType::SalesTransactionCompleted)
                        && learnomy_failures < 2
                    {
                        // The Learnomy-side app is down for the sale's first two attempts.
                        learnomy_failures += 1;
                        let _ = request.respond(tiny_http::Response::empty(503));
                        continue;
                    }
                    // Each route is its own app, with its own deduplication: claim the id,
                    // record the event, answer 200, commit (a failure would release it).
                    let lease = Duration::from_secs(30);
                    let claim = seen.claim(Timestamp::now(), &path, &got.id, lease);
                    let status = match claim {
                        Claim::InProgress { .. } => 409,
                        _ => 200,
                    };
                    let _ = request.respond(tiny_http::Response::empty(status));
                    let first = matches!(claim, Claim::Claimed(_));
                    if let Claim::Claimed(token) = claim {
                        seen.commit(Timestamp::now(), &path, &got.id, token);
                    }
                    let summary = describe(&got.event);
                    let _ = events_tx.send(format!(
                        "{:<11} {:<29} {} {}{}",
                        path.trim_start_matches('/'),
                        got.event.type_str(),
                        got.id,
                        summary,
                        if first { "" } else { " (duplicate, skipped)" }
                    ));
                }
                Err(e) => {
                    let _ = request.respond(tiny_http::Response::empty(e.http_status().as_u16()));
                }
            }
        }
    });

    // ── The LMS fans out three events ────────────────────────────────────────────────────
    let events = [
        EventType::SalesTransactionCompleted,
        EventType::CourseMemberCompleted,
        EventType::NotificationsSent,
    ];
    let mut pending: Vec<Delivery> = Vec::new();
    for t in events {
        let envelope = Envelope::new(Event::sample(t));
        let out = fan_out(Timestamp::now(), &envelope, registry.endpoints())?;
        println!("LMS: {} → {} deliveries", t, out.deliveries.len());
        pending.extend(out.deliveries);
    }

    // A tiny scheduler: the host's job queue, in miniature.
    // The crate's ureq transport, with the same loopback-only policy at connect time.
    let transport = UreqTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .with_policy(policy.clone());
    let started = Instant::now();
    let mut finished = Vec::new();
    while !pending.is_empty() {
        let now = Timestamp::now();
        let (due, waiting): (Vec<Delivery>, Vec<Delivery>) = pending
            .into_iter()
            .partition(|d| d.next_due().is_some_and(|t| t <= now));
        pending = waiting;
        for mut delivery in due {
            // Each attempt is built from the endpoint as it is now (its current URL, secrets
            // and status), and its outcome updates the endpoint's status.
            let request = registry.request(Timestamp::now(), &mut delivery)?;
            let outcome = transport.send(request);
            let next = registry.record(Timestamp::now(), &mut delivery, outcome)?;
            match next {
                Next::RetryAt(_) => pending.push(delivery),
                _ => finished.push(delivery),
            }
        }
        thread::sleep(Duration::from_millis(20));
        if started.elapsed() > Duration::from_secs(30) {
            return Err("deliveries did not finish in 30 s".into());
        }
    }

    println!("\nReceiver: verified events");
    let mut received = Vec::new();
    while let Ok(line) = events_rx.recv_timeout(Duration::from_millis(300)) {
        println!("  {line}");
        received.push(line);
    }

    println!("\nLMS: delivery log");
    println!(
        "  {:<13} {:<29} {:>8}  statuses        result",
        "endpoint", "event", "attempts"
    );
    let mut all_done = true;
    for d in &finished {
        let event = Envelope::from_slice(d.body())?;
        let statuses: Vec<String> = d
            .attempts()
            .iter()
            .map(|a| match &a.outcome {
                Outcome::Response { status, .. } => status.to_string(),
                Outcome::Timeout => "timeout".to_owned(),
                _ => "error".to_owned(),
            })
            .collect();
        let result = match d.attempts().last().map(|a| a.next) {
            Some(Next::Done) => "delivered",
            _ => {
                all_done = false;
                "FAILED"
            }
        };
        println!(
            "  {:<13} {:<29} {:>8}  {:<15} {result}",
            d.endpoint_id(),
            event.event().type_str(),
            d.attempts().len(),
            statuses.join(","),
        );
    }
    if !all_done || received.len() != finished.len() {
        return Err(format!(
            "{} deliveries, {} received: something was lost",
            finished.len(),
            received.len()
        )
        .into());
    }
    println!("\nAll {} deliveries verified and received.", finished.len());
    Ok(())
}

/// One line about the payload, as a consumer app would use it.
fn describe(event: &Event) -> String {
    use lms_webhooks::{CourseEvent, NotificationEvent, SalesEvent};
    match event {
        Event::Sales(SalesEvent::TransactionCompleted(t)) => {
            format!(
                "{} paid by {}",
                t.amount,
                t.customer.email.as_deref().unwrap_or("?")
            )
        }
        Event::Course(CourseEvent::MemberCompleted(c)) => format!(
            "{} finished {}",
            c.member.first_name.as_deref().unwrap_or("?"),
            c.course.title.as_deref().unwrap_or(&c.course.id)
        ),
        Event::Notifications(NotificationEvent::Sent(n)) => {
            format!("{} push notification(s) to forward", n.notifications.len())
        }
        other => other.type_str().to_owned(),
    }
}
