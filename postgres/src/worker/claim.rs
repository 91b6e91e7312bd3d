//! The claim: fair across endpoints, capped per endpoint; two statements, run by the
//! `lmsw_claim` function (migration 10) in one round trip.
//!
//! Every endpoint is a lane. The first statement finds the endpoints that have a due delivery
//! (a walk over the queue index that reads one entry per endpoint), keeps those below their
//! cap of deliveries in flight, and locks the lanes of the least recently served of them (an
//! endpoint's narrow row of claims, `lmsw_lanes`; `SKIP LOCKED`: concurrent claimers take
//! other endpoints). The second statement, with a fresh snapshot
//! that sees every lease committed before those locks were taken, counts each endpoint's live
//! leases again, takes at most its free share of due deliveries, round-robin across the
//! endpoints (every endpoint's first, then every endpoint's second, ...), leases them and
//! returns them with their message body and their endpoint. Both statements read only the
//! partial indexes of queued and leased deliveries: however many finished rows the table
//! holds, they are never read.

use std::sync::atomic::Ordering;

use sqlx::Row;

use crate::record::{bind_rows, Written};
use crate::StoreError;

use super::{Claimed, Worker, NEXT_CLAIM};
use lms_webhooks::transport::Transport;

/// The claim's first statement (see `migrations/claim/pick.sql`).
pub(crate) const PICK: &str = include_str!("../../migrations/claim/pick.sql");

/// The claim's second statement (see `migrations/claim/take.sql`).
pub(crate) const TAKE: &str = include_str!("../../migrations/claim/take.sql");

/// The grouped write of outcomes and the claim of the room they free, in one round trip.
const RECORD_CLAIM: &str = "SELECT * FROM lmsw_record_claim($1, $2, $3, $4, $5, $6, $7, $8, $9,
    $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)";

/// Ends the due deliveries whose endpoint is gone (see `migrations/claim/sweep.sql`).
const SWEEP: &str = include_str!("../../migrations/claim/sweep.sql");

impl<T: Transport + 'static> Worker<T> {
    /// Leases up to `n` due deliveries, fairly (see the module's documentation), each with its
    /// endpoint as it is now, under a lease token of this claim's own: one round trip, whatever
    /// `n` (`lmsw_claim` runs both statements in the database).
    pub(super) async fn claim(&self, n: usize) -> Result<Vec<Claimed>, StoreError> {
        let lease = self.lease_token();
        let rows =
            sqlx::query("SELECT * FROM lmsw_claim(NULL, NULL, NULL, $1, $2, $3, $4, $5, NULL)")
                .bind(&lease)
                .bind(i64::try_from(n).unwrap_or(i64::MAX))
                .bind(self.lease.as_secs_f64())
                .bind(crate::sql::odt(self.now()))
                .bind(self.expiry_due())
                .fetch_all(&self.pool)
                .await?;
        tracing::trace!(owner = %self.owner, wanted = n, leased = rows.len(), "webhook claim");
        rows.iter().map(|row| claimed(row, &lease)).collect()
    }

    /// Writes `rows` (the outcomes of a group, see [`crate::record::write`]) and, in the same
    /// round trip and transaction, claims up to `n` due deliveries as [`Worker::claim`] does,
    /// seeing the leases the write ended (`lmsw_record_claim`, migration 12). Returns the ids
    /// written and the deliveries claimed.
    pub(super) async fn record_and_claim(
        &self,
        conn: &mut sqlx::PgConnection,
        rows: &[Written],
        n: usize,
    ) -> Result<(Vec<i64>, Vec<Claimed>), StoreError> {
        let lease = self.lease_token();
        let result = bind_rows(sqlx::query(RECORD_CLAIM), rows)
            .bind(&lease)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(self.lease.as_secs_f64())
            .bind(crate::sql::odt(self.now()))
            .bind(self.expiry_due())
            .fetch_all(&mut *conn)
            .await?;
        let mut written = Vec::new();
        let mut claims = Vec::with_capacity(result.len().saturating_sub(1));
        for row in &result {
            match row.try_get::<Option<Vec<i64>>, _>("written")? {
                Some(ids) => written = ids,
                None => claims.push(claimed(row, &lease)?),
            }
        }
        tracing::trace!(
            owner = %self.owner,
            written = written.len(),
            wanted = n,
            leased = claims.len(),
            "webhook outcomes written, claim"
        );
        Ok((written, claims))
    }

    /// A new claim's lease token: the worker's name and the claim's number in this process.
    fn lease_token(&self) -> String {
        format!(
            "{}#{}",
            self.owner,
            NEXT_CLAIM.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Whether this claim looks for expired leases too: at most once a second (the first
    /// claim does), as that look reads the whole lease index.
    fn expiry_due(&self) -> bool {
        let mut last = self
            .expiry_checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1)) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }

    /// Ends the due deliveries whose endpoint is gone (a publish raced its deletion), at most
    /// once a second: a claim never takes them (it serves only endpoints that exist), so a worker
    /// whose queue runs dry looks for them.
    pub(super) async fn sweep(&self) -> Result<(), StoreError> {
        {
            let mut last = self
                .swept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1)) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        sqlx::query(SWEEP)
            .bind(crate::sql::odt(self.now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A claimed row, leased under `lease`: the delivery, its endpoint as it is now and the
/// endpoint's health columns.
fn claimed(row: &sqlx::postgres::PgRow, lease: &str) -> Result<Claimed, StoreError> {
    Ok(Claimed {
        id: row.try_get("id")?,
        lease: lease.to_owned(),
        tenant: row.try_get("tenant")?,
        endpoint_id: row.try_get("endpoint_id")?,
        delivery: crate::rows::from_row(row),
        sealed: row.try_get("sealed")?,
        rate: row.try_get("rate")?,
        health: match row.try_get::<Option<String>, _>("status")? {
            Some(_) => Some(crate::health::read(row)?),
            None => None,
        },
    })
}
