//! A webhook receiver in axum: `WebhookReceiver::layer` verifies, decrypts, parses and claims
//! each event; the handler records it and answers 200 (the id is committed), or fails and
//! answers 503 (the id is released, and the sender's retry runs the handler again).
//!
//! ```text
//! WEBHOOK_SECRET=whsec_... cargo run --features axum --example axum_receiver      # 127.0.0.1:8080
//! WEBHOOK_PROFILE=learnybox WEBHOOK_KEY=... cargo run --features axum --example axum_receiver
//! ```
//!
//! Profiles: standard, learnybox, learnworlds, learnink, learnomy. `WEBHOOK_ADDR` sets the
//! address.

#[path = "support/settings.rs"]
mod settings;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::dedupe::MemoryDeduplicator;
use lms_webhooks::receiver::Received;
use tokio::sync::mpsc;

/// Runs once per event (and again for a retry if it failed): record the event, answer 200.
async fn hooks(
    State(work): State<mpsc::Sender<Received>>,
    VerifiedWebhook(got): VerifiedWebhook,
) -> StatusCode {
    // Answer first, work later: the queue is the record, the worker processes.
    match work.send(got).await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (receiver, addr) = settings::from_env()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (work, mut queue) = mpsc::channel::<Received>(1024);
        tokio::spawn(async move {
            while let Some(event) = queue.recv().await {
                println!(
                    "processed {} {} (occurred {})",
                    event.event.type_str(),
                    event.id,
                    event.occurred_at
                );
            }
        });
        let webhooks = WebhookReceiver::new(receiver).with_dedupe(MemoryDeduplicator::new(
            100_000,
            Duration::from_secs(7 * 86_400),
        ));
        let app = Router::new()
            .route("/", post(hooks))
            .layer(webhooks.layer())
            .with_state(work);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{addr}/");
        axum::serve(listener, app).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
