//! A deduplication store shared by receivers on any number of machines, on PostgreSQL.

use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use lms_webhooks::dedupe::{AsyncDeduplicator, DedupeError};
use lms_webhooks::Timestamp;
use sqlx::PgPool;

use crate::outbox::odt;
use crate::StoreError;

/// Remembers which event ids receivers accepted, per scope (a profile, an endpoint), in the
/// `lmsw_seen` table ([`migrate`](crate::migrate) creates it): one atomic
/// `INSERT … ON CONFLICT` per request, so that of two receivers given the same retry at the
/// same moment exactly one processes it. An id counts as forgotten `ttl` after it was first
/// accepted; [`PgDeduplicator::purge`] deletes such rows (run it on a schedule).
///
/// The same with Redis is one command per request: `SET webhook:seen:<scope>:<id> 1 NX EX
/// <ttl>` (`OK`: first time; nil: a retry).
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool, got: lms_webhooks::Received) -> Result<(), lms_webhooks_postgres::StoreError> {
/// use std::time::Duration;
/// use lms_webhooks::Timestamp;
/// use lms_webhooks_postgres::PgDeduplicator;
///
/// let seen = PgDeduplicator::new(pool, Duration::from_secs(7 * 86_400));
/// if seen.check_and_mark(Timestamp::now(), "learnomy", &got.id).await? {
///     // first time: process got.event
/// } // else a retry: answer 200 and do nothing
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgDeduplicator {
    pool: PgPool,
    ttl: Duration,
}

impl PgDeduplicator {
    /// Ids remembered for `ttl` on `pool`'s database.
    pub fn new(pool: PgPool, ttl: Duration) -> PgDeduplicator {
        PgDeduplicator { pool, ttl }
    }

    /// `true` if `id` is new in `scope` (or was forgotten: accepted more than the TTL ago),
    /// and is now remembered; `false` for a repeat.
    pub async fn check_and_mark(
        &self,
        now: Timestamp,
        scope: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let fresh = sqlx::query(
            "INSERT INTO lmsw_seen (scope, id, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (scope, id) DO UPDATE SET seen_at = EXCLUDED.seen_at
               WHERE lmsw_seen.seen_at < $3 - make_interval(secs => $4)
             RETURNING 1",
        )
        .bind(scope)
        .bind(id)
        .bind(odt(now))
        .bind(self.ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok(fresh.is_some())
    }

    /// Deletes the ids accepted more than the TTL before `now`; returns how many.
    pub async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        let deleted =
            sqlx::query("DELETE FROM lmsw_seen WHERE seen_at < $1 - make_interval(secs => $2)")
                .bind(odt(now))
                .bind(self.ttl.as_secs_f64())
                .execute(&self.pool)
                .await?;
        Ok(deleted.rows_affected())
    }
}

/// For the axum extractor (`lms_webhooks::axum::WebhookReceiver::with_dedupe`) and any other
/// host of [`AsyncDeduplicator`]s: a database error is a [`DedupeError`] (answer 503).
impl AsyncDeduplicator for PgDeduplicator {
    fn check_and_mark_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, DedupeError>> + Send + 'a>> {
        Box::pin(async move {
            self.check_and_mark(now, scope, id)
                .await
                .map_err(|e| DedupeError(e.to_string()))
        })
    }
}
