//! A deduplication store shared by receivers on any number of machines, on PostgreSQL.

use std::time::Duration;

use lms_webhooks::dedupe::{AsyncDeduplicator, Claim, ClaimToken, DedupeError, DedupeFuture};
use lms_webhooks::Timestamp;
use sqlx::{PgPool, Row};

use crate::sql::odt;
use crate::StoreError;

/// Claims, commits and releases event ids per scope (a profile, an endpoint) in the
/// `lmsw_seen` table ([`migrate_dedupe`](crate::migrate_dedupe) creates it alone, for a
/// receiver without an outbox; [`migrate`](crate::migrate) with the rest), one statement per
/// step, so that
/// of receivers given copies of one event at the same moment exactly one handles it, and a
/// handler that fails lets the next copy through (see `lms_webhooks::dedupe` for the three
/// steps). A handled id counts as forgotten `ttl` after it was committed, a claim at the end
/// of its lease; [`PgDeduplicator::purge`] deletes both (run it on a schedule).
///
/// Behind the axum layer (`WebhookReceiver::with_dedupe`), or by hand:
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool, got: lms_webhooks::Received) -> Result<(), lms_webhooks_postgres::StoreError> {
/// use std::time::Duration;
/// use lms_webhooks::dedupe::Claim;
/// use lms_webhooks::Timestamp;
/// use lms_webhooks_postgres::PgDeduplicator;
///
/// let seen = PgDeduplicator::new(pool, Duration::from_secs(7 * 86_400));
/// let lease = Duration::from_secs(60);
/// match seen.claim(Timestamp::now(), "learnomy", &got.id, lease).await? {
///     Claim::Claimed(token) => {
///         // handle got.event; on success:
///         seen.commit(Timestamp::now(), "learnomy", &got.id, token).await?;
///         // on failure: seen.release(Timestamp::now(), "learnomy", &got.id, token)
///     }
///     Claim::Done => {}                       // handled already: answer 200
///     _ => {}                                 // being handled: answer 409, Retry-After
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgDeduplicator {
    pool: PgPool,
    ttl: Duration,
}

impl PgDeduplicator {
    /// Handled ids remembered for `ttl` on `pool`'s database.
    pub fn new(pool: PgPool, ttl: Duration) -> PgDeduplicator {
        PgDeduplicator { pool, ttl }
    }

    /// Claims `id` in `scope` for `lease`: [`Claim::Claimed`] if it is new, was released, was
    /// handled more than the TTL ago, or its last claim's lease ended; [`Claim::Done`] if it
    /// was handled; [`Claim::InProgress`] while another claim holds it. One statement: the
    /// row is inserted, or updated only where it may be claimed, and read back as it stands.
    pub async fn claim(
        &self,
        now: Timestamp,
        scope: &str,
        id: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|e| StoreError::Random(e.to_string()))?;
        let token = i64::from_le_bytes(raw);
        let row = sqlx::query(CLAIM)
            .bind(scope)
            .bind(id)
            .bind(odt(now))
            .bind(token)
            .bind(lease.as_secs_f64())
            .bind(self.ttl.as_secs_f64())
            .fetch_one(&self.pool)
            .await?;
        let held: Option<i64> = row.try_get(0)?;
        let until: Option<time::OffsetDateTime> = row.try_get(1)?;
        Ok(match (held, until) {
            (Some(held), _) if held == token => Claim::Claimed(ClaimToken::from_raw(token as u64)),
            (None, _) => Claim::Done,
            (Some(_), until) => {
                let retry_after = until
                    .map(|until| until - odt(now))
                    .and_then(|left| Duration::try_from(left).ok())
                    .unwrap_or_default();
                Claim::InProgress { retry_after }
            }
        })
    }

    /// The handler succeeded: `id` is handled from `now`, for the TTL, whoever holds it.
    pub async fn commit(
        &self,
        now: Timestamp,
        scope: &str,
        id: &str,
        _token: ClaimToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO lmsw_seen (scope, id, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (scope, id) DO UPDATE
               SET seen_at = EXCLUDED.seen_at, claim_token = NULL, lease_until = NULL",
        )
        .bind(scope)
        .bind(id)
        .bind(odt(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The handler failed: deletes the claim if `token` still holds it, so that the next copy
    /// is handled.
    pub async fn release(
        &self,
        _now: Timestamp,
        scope: &str,
        id: &str,
        token: ClaimToken,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM lmsw_seen WHERE scope = $1 AND id = $2 AND claim_token = $3")
            .bind(scope)
            .bind(id)
            .bind(token.raw() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the ids handled more than the TTL before `now`, and the claims whose lease
    /// ended; returns how many.
    pub async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        let handled = sqlx::query(
            "DELETE FROM lmsw_seen
             WHERE seen_at < $1 - make_interval(secs => $2) AND claim_token IS NULL",
        )
        .bind(odt(now))
        .bind(self.ttl.as_secs_f64())
        .execute(&self.pool)
        .await?;
        let claims = sqlx::query(
            "DELETE FROM lmsw_seen WHERE claim_token IS NOT NULL AND lease_until <= $1",
        )
        .bind(odt(now))
        .execute(&self.pool)
        .await?;
        Ok(handled.rows_affected() + claims.rows_affected())
    }
}

/// Whether the existing row `s` may be claimed at `$3`: handled more than the TTL (`$6`
/// seconds) ago, or claimed under a lease that has ended.
macro_rules! claimable {
    () => {
        "((s.claim_token IS NULL AND s.seen_at < $3 - make_interval(secs => $6))
          OR (s.claim_token IS NOT NULL AND s.lease_until <= $3))"
    };
}

/// Inserts a claim, or takes over the row where it may be claimed, and returns the row as it
/// stands: its token is ours (claimed), none (handled) or another's (in progress).
const CLAIM: &str = concat!(
    "INSERT INTO lmsw_seen AS s (scope, id, seen_at, claim_token, lease_until)
     VALUES ($1, $2, $3, $4, $3 + make_interval(secs => $5))
     ON CONFLICT (scope, id) DO UPDATE SET
       seen_at = CASE WHEN ",
    claimable!(),
    " THEN EXCLUDED.seen_at ELSE s.seen_at END,
       claim_token = CASE WHEN ",
    claimable!(),
    " THEN EXCLUDED.claim_token ELSE s.claim_token END,
       lease_until = CASE WHEN ",
    claimable!(),
    " THEN EXCLUDED.lease_until ELSE s.lease_until END
     RETURNING s.claim_token, s.lease_until"
);

/// For the axum layer (`lms_webhooks::axum::WebhookReceiver::with_dedupe`) and any other
/// host of [`AsyncDeduplicator`]s: a database error is a [`DedupeError`] (answer 503).
impl AsyncDeduplicator for PgDeduplicator {
    fn claim_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        lease: Duration,
    ) -> DedupeFuture<'a, Claim> {
        Box::pin(async move { self.claim(now, scope, id, lease).await.map_err(unavailable) })
    }

    fn commit_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()> {
        Box::pin(async move {
            self.commit(now, scope, id, token)
                .await
                .map_err(unavailable)
        })
    }

    fn release_async<'a>(
        &'a self,
        now: Timestamp,
        scope: &'a str,
        id: &'a str,
        token: ClaimToken,
    ) -> DedupeFuture<'a, ()> {
        Box::pin(async move {
            self.release(now, scope, id, token)
                .await
                .map_err(unavailable)
        })
    }
}

fn unavailable(e: StoreError) -> DedupeError {
    DedupeError(e.to_string())
}
