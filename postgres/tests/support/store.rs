//! A migrated outbox on a fresh database of the private server, and the loopback policy the
//! tests deliver under.

#![allow(dead_code)] // each test binary uses its own part

use std::time::Duration;

use lms_webhooks::transport::ReqwestTransport;
use lms_webhooks::UrlPolicy;
use lms_webhooks_postgres::{migrate, MasterKey, Outbox, Worker};
use sqlx::PgPool;

use super::pg::Pg;

/// The master key of the tests.
pub const KEY: &str = "Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a";

/// A fresh database, migrated, with an outbox sealed under [`KEY`].
pub async fn fresh_outbox(pg: &Pg, max_connections: u32) -> (PgPool, Outbox) {
    outbox_on(&pg.fresh_database().await, max_connections).await
}

/// The database at `url`, migrated, with an outbox sealed under [`KEY`].
pub async fn outbox_on(url: &str, max_connections: u32) -> (PgPool, Outbox) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    let outbox = Outbox::open(pool.clone(), MasterKey::parse(KEY).unwrap())
        .await
        .unwrap();
    (pool, outbox)
}

/// Receivers on loopback, over http: for tests only.
pub fn loopback() -> UrlPolicy {
    UrlPolicy::new()
        .with_http_allowed(true)
        .with_private_allowed(true)
}

/// The transport the tests send with: [`loopback`] allowed, 2 s to connect, 5 s in all.
pub fn loopback_transport() -> ReqwestTransport {
    ReqwestTransport::new(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_policy(loopback())
        .unwrap()
}

/// A worker on `outbox` sending with [`loopback_transport`], polling every 50 ms.
pub fn worker(outbox: &Outbox) -> Worker<ReqwestTransport> {
    Worker::new(outbox.clone(), loopback_transport()).with_poll_interval(Duration::from_millis(50))
}
