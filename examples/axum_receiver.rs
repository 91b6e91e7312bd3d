//! A webhook receiver in axum: the `VerifiedWebhook` extractor verifies, decrypts, parses and
//! deduplicates; the handler answers 200 at once and hands the event to a worker task.
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
use axum::routing::post;
use axum::Router;
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::dedupe::MemoryDeduplicator;
use lms_webhooks::receiver::Received;
use tokio::sync::mpsc;

/// The app's state: the extractor's part, and the queue of work.
#[derive(Clone)]
struct App {
    webhooks: WebhookReceiver,
    work: mpsc::Sender<Received>,
}

impl axum::extract::FromRef<App> for WebhookReceiver {
    fn from_ref(app: &App) -> WebhookReceiver {
        app.webhooks.clone()
    }
}

/// Runs only for a genuine request seen for the first time.
async fn hooks(State(app): State<App>, VerifiedWebhook(got): VerifiedWebhook) -> &'static str {
    // Answer first, work later: the sender gets its 200 while the worker processes.
    let _ = app.work.send(got).await;
    "ok"
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
            .with_state(App { webhooks, work });
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{addr}/");
        axum::serve(listener, app).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
