//! An endpoint's recent health, read from its attempts: what the admin page draws (attempts
//! and failures per hour over the last day, success rate, latency percentiles).

use lms_webhooks::Timestamp;
use sqlx::Row;
use time::OffsetDateTime;

use crate::{Outbox, StoreError};

/// One hour of an endpoint's attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hour {
    /// Attempts started in that hour.
    pub attempts: u32,
    /// Of which not delivered (retried or given up).
    pub failures: u32,
}

/// An endpoint's last 24 hours of attempts, by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// The 24 hours, oldest first; the last one is the hour up to now.
    pub hours: [Hour; 24],
    /// Attempts in the 24 hours.
    pub attempts: u64,
    /// Of which delivered.
    pub delivered: u64,
    /// The median attempt's duration, in milliseconds (none without attempts).
    pub p50_ms: Option<i64>,
    /// The 95th percentile attempt's duration, in milliseconds.
    pub p95_ms: Option<i64>,
    /// The endpoint's latest attempt, whenever it was: when it started and what it answered
    /// (why a disabled endpoint is disabled: a 410 Gone, or an operator).
    pub last_attempt: Option<(Timestamp, Option<i32>)>,
}

impl HealthReport {
    /// Delivered attempts over all attempts, from 0 to 1 (none without attempts).
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.delivered as f64 / self.attempts as f64)
    }
}

impl Outbox {
    /// The last 24 hours of `tenant`'s endpoint `id`: attempts and failures per hour, success
    /// rate, p50 and p95 durations, and its latest attempt. Three reads of the attempts'
    /// endpoint index; no master key needed.
    pub async fn health_report(&self, tenant: &str, id: &str) -> Result<HealthReport, StoreError> {
        let pool = self.pool();
        let rows = sqlx::query(
            "SELECT least(23, floor(extract(epoch FROM now() - started_at) / 3600))::int AS ago,
                    count(*) AS attempts,
                    count(*) FILTER (WHERE result <> 'delivered') AS failures
             FROM lmsw_attempts
             WHERE tenant = $1 AND endpoint_id = $2 AND started_at > now() - interval '24 hours'
             GROUP BY 1",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(pool)
        .await?;
        let mut hours = [Hour::default(); 24];
        let (mut attempts, mut failed) = (0u64, 0u64);
        for row in &rows {
            let ago: i32 = row.try_get("ago")?;
            let n: i64 = row.try_get("attempts")?;
            let f: i64 = row.try_get("failures")?;
            let slot = 23 - usize::try_from(ago.clamp(0, 23)).unwrap_or(0);
            hours[slot].attempts += u32::try_from(n).unwrap_or(u32::MAX);
            hours[slot].failures += u32::try_from(f).unwrap_or(u32::MAX);
            attempts += u64::try_from(n).unwrap_or(0);
            failed += u64::try_from(f).unwrap_or(0);
        }
        let latency = sqlx::query(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
                    percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
             FROM lmsw_attempts
             WHERE tenant = $1 AND endpoint_id = $2 AND started_at > now() - interval '24 hours'",
        )
        .bind(tenant)
        .bind(id)
        .fetch_one(pool)
        .await?;
        let last = sqlx::query(
            "SELECT started_at, status FROM lmsw_attempts WHERE tenant = $1 AND endpoint_id = $2
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await?;
        let last_attempt = match last {
            Some(row) => {
                let at: OffsetDateTime = row.try_get("started_at")?;
                let at = Timestamp::try_from(at).map_err(|e| StoreError::Corrupt {
                    what: format!("attempt of endpoint {id}"),
                    reason: e.to_string(),
                })?;
                Some((at, row.try_get("status")?))
            }
            None => None,
        };
        Ok(HealthReport {
            hours,
            attempts,
            delivered: attempts - failed,
            p50_ms: latency.try_get("p50")?,
            p95_ms: latency.try_get("p95")?,
            last_attempt,
        })
    }
}
