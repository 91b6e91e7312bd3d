//! A consumer of an LMS's webhooks: axum verifies each request (Standard Webhooks), parses the
//! event, and claims its id in PostgreSQL (`PgDeduplicator`, shared by every instance of the
//! app), so that a retried or replayed event is handled once; the handler records the sale in
//! the app's own table. A handler that fails answers 503: the id is released and the sender's
//! retry runs it again (at least once, end to end).
//!
//! ```text
//! DATABASE_URL=postgres://… WEBHOOK_SECRET=whsec_… [LISTEN=127.0.0.1:8081] \
//!     cargo run -p lms-webhooks-postgres --example consumer
//! ```
//! It needs only the deduplication table (`migrate_dedupe`), not the outbox's.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{routing::post, Router};
use lms_webhooks::axum::{VerifiedWebhook, WebhookReceiver};
use lms_webhooks::{Event, Profile, Receiver, SalesEvent, Secret};
use lms_webhooks_postgres::{migrate_dedupe, PgDeduplicator};
use sqlx::PgPool;

/// Runs once per event id (again only if it failed): records a completed sale.
async fn hook(State(pool): State<PgPool>, VerifiedWebhook(got): VerifiedWebhook) -> StatusCode {
    let Event::Sales(SalesEvent::TransactionCompleted(sale)) = &got.event else {
        return StatusCode::OK; // Not ours to handle: acknowledged.
    };
    let recorded = sqlx::query(
        "INSERT INTO paid (event_id, sale_id, cents, email) VALUES ($1, $2, $3, $4)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&got.id)
    .bind(&sale.id)
    .bind(sale.amount.amount)
    .bind(sale.customer.email.as_deref())
    .execute(&pool)
    .await;
    match recorded {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            eprintln!("event {} not recorded: {e}", got.id);
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = PgPool::connect(&std::env::var("DATABASE_URL")?).await?;
    migrate_dedupe(&pool).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS paid (event_id text PRIMARY KEY, sale_id text NOT NULL,
           cents bigint NOT NULL, email text)",
    )
    .execute(&pool)
    .await?;
    let secret = Secret::parse(&std::env::var("WEBHOOK_SECRET")?)?;
    let dedupe = PgDeduplicator::new(pool.clone(), Duration::from_secs(7 * 86_400));
    let webhooks = WebhookReceiver::new(Receiver::new(Profile::standard()).with_secret(secret))
        .with_dedupe(dedupe);
    let app = Router::new()
        .route("/webhooks", post(hook))
        .layer(webhooks.layer())
        .with_state(pool);
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("consumer on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
