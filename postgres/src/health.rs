//! What lives in plain columns beside an endpoint's sealed settings. Its health (migration 6):
//! status, consecutive failures, failing since and "Last Triggered", changed under the row's
//! lock with the core crate's rules ([`Health::apply`]), never by rewriting the sealed
//! settings (which still carry a copy of the health they were saved with; on load, the columns
//! win). And what a publish reads (migration 9): its event patterns and body layout.

use std::time::Duration;

use lms_webhooks::endpoint::{Health, HealthChange, HealthNotice};
use lms_webhooks::{Endpoint, EndpointStatus, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;

use crate::sealed::MasterKey;
use crate::sql::{odt, status_name};
use crate::StoreError;

/// The status stored under `name`.
pub(crate) fn status_of(name: &str) -> Result<EndpointStatus, StoreError> {
    Ok(match name {
        "active" => EndpointStatus::Active,
        "paused" => EndpointStatus::Paused,
        "disabled" => EndpointStatus::Disabled,
        "failed" => EndpointStatus::Failed,
        other => {
            return Err(StoreError::Corrupt {
                what: "endpoint status".to_owned(),
                reason: format!("`{other}`"),
            })
        }
    })
}

fn timestamp(t: Option<OffsetDateTime>) -> Result<Option<Timestamp>, StoreError> {
    t.map(Timestamp::try_from)
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            what: "endpoint health".to_owned(),
            reason: e.to_string(),
        })
}

/// The health in `row` (its `status`, `consecutive_failures`, `failing_since` and
/// `last_triggered_at`).
pub(crate) fn read(row: &PgRow) -> Result<Health, StoreError> {
    let mut health = Health::new(status_of(row.try_get("status")?)?);
    let failures: i32 = row.try_get("consecutive_failures")?;
    health.consecutive_failures = u32::try_from(failures).unwrap_or(0);
    health.failing_since = timestamp(row.try_get("failing_since")?)?;
    health.last_triggered_at = timestamp(row.try_get("last_triggered_at")?)?;
    Ok(health)
}

/// Writes `endpoint`'s health, failure rule, patterns and layout into its row's columns (with
/// its sealed settings, by [`Outbox::save`](crate::Outbox)).
pub(crate) async fn write(
    conn: &mut PgConnection,
    tenant: &str,
    endpoint: &Endpoint,
) -> Result<(), StoreError> {
    let health = endpoint.health();
    sqlx::query(
        "UPDATE lmsw_endpoints SET status = $3, consecutive_failures = $4, failing_since = $5,
           last_triggered_at = $6, failure_threshold = $7, failing_period_secs = $8,
           patterns = $9, layout = $10
         WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(endpoint.id())
    .bind(status_name(health.status))
    .bind(i32::try_from(health.consecutive_failures).unwrap_or(i32::MAX))
    .bind(health.failing_since.map(odt))
    .bind(health.last_triggered_at.map(odt))
    .bind(i32::try_from(endpoint.failure_threshold()).unwrap_or(i32::MAX))
    .bind(endpoint.failing_period().as_secs_f64())
    .bind(endpoint.filter().patterns())
    .bind(layout_json(endpoint)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn layout_json(endpoint: &Endpoint) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(endpoint.layout()).map_err(|e| StoreError::Corrupt {
        what: format!("endpoint {} layout", endpoint.id()),
        reason: e.to_string(),
    })
}

/// Fills the columns of the rows written before migration 6 from their sealed settings (run
/// when an outbox opens: it holds the key). Idempotent, and safe to run from several
/// processes at once.
pub(crate) async fn backfill(pool: &PgPool, key: &MasterKey) -> Result<(), StoreError> {
    // A database migrated only part of the way (`migrate_to`) has the columns it has.
    let version: i32 = sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM lmsw_migrations")
        .fetch_one(pool)
        .await?;
    let sql = match version {
        ..=5 => return Ok(()),
        6..=8 => "SELECT tenant, id, sealed FROM lmsw_endpoints WHERE failure_threshold IS NULL",
        _ => {
            "SELECT tenant, id, sealed FROM lmsw_endpoints
             WHERE failure_threshold IS NULL OR layout IS NULL"
        }
    };
    let rows = sqlx::query(sql).fetch_all(pool).await?;
    for row in rows {
        let (tenant, id): (String, String) = (row.try_get("tenant")?, row.try_get("id")?);
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let endpoint = key.open_endpoint(&tenant, &id, &sealed)?;
        let health = endpoint.health();
        // The health only where it was never filled in (the columns are the truth since);
        // the patterns and layout wherever they are missing.
        sqlx::query(
            "UPDATE lmsw_endpoints SET consecutive_failures = $3, failing_since = $4,
               last_triggered_at = $5, failure_threshold = $6, failing_period_secs = $7
             WHERE tenant = $1 AND id = $2 AND failure_threshold IS NULL",
        )
        .bind(&tenant)
        .bind(&id)
        .bind(i32::try_from(health.consecutive_failures).unwrap_or(i32::MAX))
        .bind(health.failing_since.map(odt))
        .bind(health.last_triggered_at.map(odt))
        .bind(i32::try_from(endpoint.failure_threshold()).unwrap_or(i32::MAX))
        .bind(endpoint.failing_period().as_secs_f64())
        .execute(pool)
        .await?;
        if version < 9 {
            continue;
        }
        sqlx::query(
            "UPDATE lmsw_endpoints SET patterns = $3, layout = $4
             WHERE tenant = $1 AND id = $2 AND layout IS NULL",
        )
        .bind(&tenant)
        .bind(&id)
        .bind(endpoint.filter().patterns())
        .bind(layout_json(&endpoint)?)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// What applying a change did to an endpoint's row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applied {
    pub(crate) after: Health,
    pub(crate) notice: Option<HealthNotice>,
}

/// Applies `change` to the endpoint's health at `now`, under the row's lock, with the core
/// crate's rules and the failure rule in its columns. `None` when the endpoint is gone.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    tenant: &str,
    id: &str,
    now: Timestamp,
    change: HealthChange,
) -> Result<Option<Applied>, StoreError> {
    let row = sqlx::query(
        "SELECT status, consecutive_failures, failing_since, last_triggered_at,
           failure_threshold, failing_period_secs
         FROM lmsw_endpoints WHERE tenant = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut health = read(&row)?;
    let threshold: Option<i32> = row.try_get("failure_threshold")?;
    let period: Option<f64> = row.try_get("failing_period_secs")?;
    let threshold = threshold.map_or(u32::MAX, |t| u32::try_from(t).unwrap_or(0));
    let period = period
        .and_then(|p| Duration::try_from_secs_f64(p).ok())
        .unwrap_or(Duration::MAX);
    let before = health;
    let notice = health.apply(now, change, threshold, period);
    if health != before {
        sqlx::query(
            "UPDATE lmsw_endpoints SET status = $3, consecutive_failures = $4,
               failing_since = $5, last_triggered_at = $6
             WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(status_name(health.status))
        .bind(i32::try_from(health.consecutive_failures).unwrap_or(i32::MAX))
        .bind(health.failing_since.map(odt))
        .bind(health.last_triggered_at.map(odt))
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(Applied {
        after: health,
        notice,
    }))
}
