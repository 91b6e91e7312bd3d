//! Durable webhook delivery on PostgreSQL for [`lms_webhooks`]: a transactional outbox that any
//! number of worker processes run, on any number of machines.
//!
//! - [`migrate`] creates the tables (embedded, versioned; safe to run from several processes).
//! - [`Outbox`] holds the endpoints of each tenant (a school, an account), **sealed** under the
//!   host's [`MasterKey`]: a `pg_dump` holds no secret. [`Outbox::publish`] writes an event and
//!   one delivery per subscribed endpoint **inside the host's own transaction**, so the event
//!   and the business write commit together or not at all.
//! - [`Worker`]s claim due deliveries under a lease, **fairly**: each endpoint is a lane with a
//!   cap on its deliveries in flight across all workers ([`Outbox::set_max_in_flight`],
//!   default 4), and claims serve the endpoints least recently served first, so a slow or
//!   noisy endpoint or tenant never delays the others. They send each request outside any
//!   transaction with the endpoint as it is now (its URL, secrets and status), and write the
//!   outcome, the attempt and the endpoint's status in one transaction.
//!   A worker that dies mid-attempt loses nothing: its lease expires and another worker sends
//!   again (at least once; receivers deduplicate on the event id).
//! - [`PgDeduplicator`] is that deduplication, shared by receivers on several machines.
//! - With the `admin` feature, `admin::Admin` serves the webhooks admin page as an axum
//!   `Router` the host mounts behind its own authentication.
//!
//! ```no_run
//! use std::time::Duration;
//! use lms_webhooks::{Endpoint, Envelope, Event, EventType, Timestamp, UrlPolicy};
//! use lms_webhooks::transport::ReqwestTransport;
//! use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::PgPool::connect("postgres://localhost/lms").await?;
//! migrate(&pool).await?;
//! let outbox = Outbox::open(pool.clone(), MasterKey::parse("base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?).await?;
//!
//! // An admin adds an endpoint; the secret is shown once.
//! let (crm, secret) = Endpoint::create(Timestamp::now(), "ep_crm", "https://crm.example.com/in", &UrlPolicy::new())?;
//! outbox.add_endpoint("school_42", &crm, Some(3)).await?;
//!
//! // The business write and the event commit together.
//! let mut tx = pool.begin().await?;
//! // … the host's own writes on `tx` …
//! let sale = Envelope::new(Event::sample(EventType::SalesTransactionCompleted));
//! outbox.publish(&mut *tx, "school_42", &sale).await?;
//! tx.commit().await?;
//!
//! // Workers, in this process or any other.
//! let transport = ReqwestTransport::new(Duration::from_secs(5), Duration::from_secs(15))?;
//! let worker = Worker::new(outbox, transport).with_concurrency(16);
//! worker.run(tokio::time::sleep(Duration::from_secs(3600))).await?; // or a shutdown signal
//! # let _ = secret;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, missing_debug_implementations)]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
mod dedupe;
mod error;
mod health;
mod listing;
mod log;
pub mod meter;
mod migrate;
mod outbox;
mod publish;
mod record;
mod report;
mod rows;
mod sealed;
mod sql;
mod worker;

pub use dedupe::PgDeduplicator;
pub use error::StoreError;
pub use log::{log_before, log_filtered, log_page, BadCursor, LogEntry, LogFilter};
pub use migrate::{latest as latest_migration, migrate, migrate_dedupe, migrate_to};
pub use outbox::{purge, Outbox, QueueStats, PURGE_BATCH};
pub use publish::{publish, Published};
pub use report::{HealthReport, Hour};
pub use sealed::MasterKey;
pub use worker::{Hook, Notice, Worker, WorkerStats};

/// The claim's two statements, for the test that checks their plans with `EXPLAIN` (not a
/// stable API).
#[doc(hidden)]
pub const CLAIM_STATEMENTS: [&str; 2] = [worker::PICK, worker::TAKE];

/// The cap on an endpoint's deliveries in flight that a new endpoint gets
/// ([`Outbox::set_max_in_flight`] changes it).
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 4;

/// The highest cap [`Outbox::set_max_in_flight`] takes.
pub const MAX_IN_FLIGHT: u32 = 10_000;
