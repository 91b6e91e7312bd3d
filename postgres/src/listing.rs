//! Endpoints a page at a time, for lists that must stay small whatever a tenant holds.

use lms_webhooks::Endpoint;
use sqlx::Row;

use crate::{Outbox, StoreError};

impl Outbox {
    /// How many endpoints `tenant` has.
    pub async fn endpoint_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT count(*) AS n FROM lmsw_endpoints WHERE tenant = $1")
            .bind(tenant)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` endpoints of `tenant` by id, those after `after` (keyset paging: the
    /// cost of a page does not grow with the pages before it).
    pub async fn endpoints_after(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, sealed, status, consecutive_failures, failing_since, last_triggered_at
             FROM lmsw_endpoints WHERE tenant = $1 AND ($2::text IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| self.open_row(tenant, row)).collect()
    }
}
