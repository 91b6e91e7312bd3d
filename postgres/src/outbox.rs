//! The store: endpoints per tenant (sealed), the transactional publish, the delivery log and
//! the manual operations.

use std::time::Duration;

use lms_webhooks::delivery::Next;
use lms_webhooks::endpoint::{EndpointError, EndpointStatus, HealthChange};
use lms_webhooks::transport::Transport;
use lms_webhooks::{Endpoint, Envelope, Timestamp};
use sqlx::{PgConnection, PgPool, Row};

use crate::log::{log_page, LogEntry};
use crate::publish::Published;
use crate::sealed::MasterKey;
use crate::sql::{odt, status_name, CHANNEL};
use crate::StoreError;

/// The channel workers LISTEN on; a publish NOTIFYs it when it commits.
/// The most rows one statement of [`Outbox::purge`] deletes.
pub const PURGE_BATCH: i64 = 1_000;

/// The durable outbox on one PostgreSQL database. Cheap to clone (a pool and a key).
///
/// Every write runs in one transaction; endpoint rows are sealed under the [`MasterKey`], so a
/// `pg_dump` holds no secret, signing or encryption key.
#[derive(Debug, Clone)]
pub struct Outbox {
    pool: PgPool,
    key: MasterKey,
}

/// How the queue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Deliveries waiting for an attempt (due or not).
    pub pending: i64,
    /// Deliveries held for paused or failed endpoints.
    pub held: i64,
    /// Pending deliveries a worker holds a lease on.
    pub leased: i64,
    /// How long the oldest due delivery has waited, in seconds.
    pub oldest_due_secs: i64,
}

impl Outbox {
    /// The outbox on `pool`, sealed with `key`. The first outbox opened on a database records
    /// a check value; later ones with another key are refused
    /// ([`StoreError::MasterKeyMismatch`]) before anything is read or written. Run
    /// [`migrate`](crate::migrate) first.
    pub async fn open(pool: PgPool, key: MasterKey) -> Result<Outbox, StoreError> {
        let check = key.check_value()?;
        sqlx::query(
            "INSERT INTO lmsw_meta (key, value) VALUES ('master_key_check', $1) ON CONFLICT DO NOTHING",
        )
        .bind(&check)
        .execute(&pool)
        .await?;
        let stored: Vec<u8> =
            sqlx::query("SELECT value FROM lmsw_meta WHERE key = 'master_key_check'")
                .fetch_one(&pool)
                .await?
                .try_get("value")?;
        if !key.matches(&stored) {
            return Err(StoreError::MasterKeyMismatch);
        }
        crate::health::backfill(&pool, &key).await?;
        Ok(Outbox { pool, key })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Adds an endpoint to `tenant`, refusing past `limit` endpoints (a plan's) or a duplicate
    /// id. Create it with [`Endpoint::create`], which checks the URL and generates the secret
    /// to show once.
    pub async fn add_endpoint(
        &self,
        tenant: &str,
        endpoint: &Endpoint,
        limit: Option<usize>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Serialise adds per tenant, so that two admins cannot both take the last slot.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        if let Some(limit) = limit {
            let used: i64 =
                sqlx::query("SELECT count(*) AS n FROM lmsw_endpoints WHERE tenant = $1")
                    .bind(tenant)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            if used >= limit as i64 {
                return Err(EndpointError::LimitReached { limit }.into());
            }
        }
        let sealed = self.key.seal_endpoint(tenant, endpoint)?;
        let inserted = sqlx::query(
            "INSERT INTO lmsw_endpoints (tenant, id, status, sealed) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(endpoint.id())
        .bind(status_name(endpoint.status()))
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(EndpointError::DuplicateId(endpoint.id().to_owned()).into());
        }
        crate::health::write(&mut tx, tenant, endpoint).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One endpoint.
    pub async fn endpoint(&self, tenant: &str, id: &str) -> Result<Endpoint, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.load(&mut conn, tenant, id, false).await
    }

    /// Every endpoint of `tenant`, by id.
    pub async fn endpoints(&self, tenant: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.endpoints_after(tenant, None, u32::MAX).await
    }

    /// An endpoint from a row holding its `id`, `sealed` settings and health columns.
    pub(crate) fn open_row(
        &self,
        tenant: &str,
        row: &sqlx::postgres::PgRow,
    ) -> Result<Endpoint, StoreError> {
        let id: String = row.try_get("id")?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let mut endpoint = self.key.open_endpoint(tenant, &id, &sealed)?;
        endpoint.set_health(crate::health::read(row)?);
        Ok(endpoint)
    }

    pub(crate) fn unseal(
        &self,
        tenant: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<Endpoint, StoreError> {
        self.key.open_endpoint(tenant, id, sealed)
    }

    pub(crate) async fn load(
        &self,
        conn: &mut PgConnection,
        tenant: &str,
        id: &str,
        for_update: bool,
    ) -> Result<Endpoint, StoreError> {
        let sql = if for_update {
            "SELECT sealed, status, consecutive_failures, failing_since, last_triggered_at
             FROM lmsw_endpoints WHERE tenant = $1 AND id = $2 FOR UPDATE"
        } else {
            "SELECT sealed, status, consecutive_failures, failing_since, last_triggered_at
             FROM lmsw_endpoints WHERE tenant = $1 AND id = $2"
        };
        let row = sqlx::query(sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                tenant: tenant.to_owned(),
                id: id.to_owned(),
            })?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let mut endpoint = self.key.open_endpoint(tenant, id, &sealed)?;
        endpoint.set_health(crate::health::read(&row)?);
        Ok(endpoint)
    }

    pub(crate) async fn save(
        &self,
        conn: &mut PgConnection,
        tenant: &str,
        endpoint: &Endpoint,
    ) -> Result<(), StoreError> {
        let sealed = self.key.seal_endpoint(tenant, endpoint)?;
        sqlx::query(
            "UPDATE lmsw_endpoints SET sealed = $3, updated_at = now()
             WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(endpoint.id())
        .bind(sealed)
        .execute(&mut *conn)
        .await?;
        crate::health::write(conn, tenant, endpoint).await?;
        Ok(())
    }

    /// Edits an endpoint in one transaction, with the row locked: `edit` gets the endpoint as
    /// stored and changes it with the core crate's methods (`set_url`, `set_filter`,
    /// `rotate_secret`, `pause`, `resume`, `disable`, `reactivate`, …), whose rules apply.
    /// Deliveries held for it continue once it is active again. Returns what `edit` returned.
    pub async fn edit_endpoint<R>(
        &self,
        tenant: &str,
        id: &str,
        edit: impl FnOnce(&mut Endpoint) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut endpoint = self.load(&mut tx, tenant, id, true).await?;
        let out = edit(&mut endpoint)?;
        self.save(&mut tx, tenant, &endpoint).await?;
        if endpoint.status() == EndpointStatus::Active {
            release_held(&mut tx, tenant, id).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Limits deliveries to the endpoint to `per_second` across every worker (a token bucket
    /// with one second's burst), or lifts the limit with `None`. A delivery over the limit is
    /// put back, due a moment later; no attempt is made or counted.
    pub async fn set_rate_limit(
        &self,
        tenant: &str,
        id: &str,
        per_second: Option<f64>,
    ) -> Result<(), StoreError> {
        let per_second = per_second.filter(|r| r.is_finite() && *r > 0.0);
        let updated = sqlx::query(
            "UPDATE lmsw_endpoints SET rate_per_second = $3,
               rate_tokens = coalesce(greatest($3, 1), 0), rate_at = now()
             WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(per_second)
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected(), tenant, id)?;
        Ok(())
    }

    /// Caps the endpoint's deliveries in flight (leased, across every worker and machine) at
    /// `n`, 1 to [`MAX_IN_FLIGHT`](crate::MAX_IN_FLIGHT); new endpoints have
    /// [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT). Whatever its backlog, an
    /// endpoint never takes more of the workers' slots than that: a slow one keeps the others
    /// waiting for nothing. Attempts already in flight finish; a lower cap holds the next ones.
    pub async fn set_max_in_flight(
        &self,
        tenant: &str,
        id: &str,
        n: u32,
    ) -> Result<(), StoreError> {
        if n == 0 || n > crate::MAX_IN_FLIGHT {
            return Err(StoreError::MaxInFlight(n));
        }
        let updated = sqlx::query(
            "UPDATE lmsw_endpoints SET max_in_flight = $3 WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(i32::try_from(n).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await?;
        found(updated.rows_affected(), tenant, id)?;
        // Deliveries waiting for room may have it now.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The endpoint's cap on deliveries in flight ([`Outbox::set_max_in_flight`]).
    pub async fn max_in_flight(&self, tenant: &str, id: &str) -> Result<u32, StoreError> {
        let row =
            sqlx::query("SELECT max_in_flight FROM lmsw_endpoints WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    tenant: tenant.to_owned(),
                    id: id.to_owned(),
                })?;
        let n: i32 = row.try_get("max_in_flight")?;
        Ok(u32::try_from(n).unwrap_or(1))
    }

    /// The Test button: sends a `webhook.test` event to the endpoint now, whatever its status
    /// and subscriptions, with no retry; the attempt goes to the delivery log, and a delivered
    /// ping reactivates a `Failed` endpoint. Returns what the attempt came to.
    pub async fn test_ping<T: Transport + ?Sized>(
        &self,
        tenant: &str,
        id: &str,
        transport: &T,
    ) -> Result<Next, StoreError> {
        let now = Timestamp::now();
        let endpoint = self.endpoint(tenant, id).await?;
        let mut delivery = endpoint.test_delivery(now)?;
        let target = endpoint.test_target(now);
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("test ping to {tenant}/{id}"),
            reason,
        };
        let request = delivery
            .next_request(now, &target)
            .map_err(|e| corrupt(e.to_string()))?;
        let outcome = transport.send(request).await;
        let ended = Timestamp::now();
        let next = delivery
            .record(ended, &target, outcome)
            .map_err(|e| corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        // The ping is a message like any other (its body, once), and a delivery of it.
        sqlx::query(
            "INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body)
             VALUES ($1, $2, 'webhook.test', $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(delivery.event_id())
        .bind(odt(now))
        .bind(delivery.body().as_ref())
        .execute(&mut *tx)
        .await?;
        let row_id = crate::rows::insert(&mut tx, tenant, &delivery, "pending", delivery.body())
            .await?
            .ok_or_else(|| corrupt("the ping's id was taken".to_owned()))?;
        sqlx::query("UPDATE lmsw_deliveries SET lease_owner = 'test-ping' WHERE id = $1")
            .bind(row_id)
            .execute(&mut *tx)
            .await?;
        // The endpoint's row first (its lock), then the attempt, as a worker does.
        let change = HealthChange::of_test(now, next);
        let applied = crate::health::apply(&mut tx, tenant, id, ended, change).await?;
        crate::record::record_attempt(&mut tx, row_id, tenant, id, &delivery, ended, "test-ping")
            .await?;
        if applied.is_some_and(|a| a.after.status == EndpointStatus::Active) {
            release_held(&mut tx, tenant, id).await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    /// Deletes an endpoint. Its queued and held deliveries end with it
    /// ([`GiveUpReason::EndpointDeleted`](lms_webhooks::delivery::GiveUpReason)), logged; one
    /// in flight is not written when its attempt ends.
    pub async fn delete_endpoint(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM lmsw_endpoints WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                tenant: tenant.to_owned(),
                id: id.to_owned(),
            });
        }
        // Its deliveries not yet finished end here (those in flight too: their late outcome
        // is not written). A publish that raced the deletion leaves a few more: a claim that
        // finds them ends them the same way.
        sqlx::query(
            "WITH ended AS (
               UPDATE lmsw_deliveries SET state = 'gave_up', gave_up_reason = 'endpoint_deleted',
                 gave_up_at = now(), finished_at = now(), lease_owner = NULL, lease_until = NULL
               WHERE tenant = $1 AND endpoint_id = $2 AND state IN ('pending', 'held')
               RETURNING id)
             INSERT INTO lmsw_operations (delivery_id, at, action, by_whom, reason)
             SELECT id, now(), 'endpoint_deleted', 'endpoint', 'the endpoint was deleted'
             FROM ended",
        )
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Publishes `envelope` for `tenant` inside the host's own transaction (pass `&mut *tx`):
    /// see [`publish`](crate::publish), which needs no outbox (and no master key).
    pub async fn publish(
        &self,
        conn: &mut PgConnection,
        tenant: &str,
        envelope: &Envelope,
    ) -> Result<Published, StoreError> {
        crate::publish::publish(conn, tenant, envelope).await
    }

    /// The delivery log of `tenant`, newest first, optionally for one event or one endpoint;
    /// `limit` rows from `offset`.
    pub async fn log(
        &self,
        tenant: &str,
        event: Option<&str>,
        endpoint: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        log_page(&self.pool, tenant, event, endpoint, limit, offset).await
    }

    /// Resends one delivery now (also after it was delivered or gave up), logged with `by`
    /// and `reason`. Returns false if there is no such delivery or it is in flight.
    pub async fn resend(
        &self,
        tenant: &str,
        event_id: &str,
        endpoint_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.revive(tenant, Some(event_id), endpoint_id, None, by, reason)
            .await
            .map(|n| n > 0)
    }

    /// Sends again every delivery of an endpoint that gave up at or after `since` (canceled
    /// ones aside). Returns how many. A delivery a worker is attempting at that moment is not
    /// part of it (it is not over yet); run it again later for those.
    pub async fn recover(
        &self,
        tenant: &str,
        endpoint_id: &str,
        since: Timestamp,
        by: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        self.revive(tenant, None, endpoint_id, Some(since), by, reason)
            .await
    }

    async fn revive(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        endpoint_id: &str,
        since: Option<Timestamp>,
        by: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let now = Timestamp::now();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            crate::rows::delivery_columns!(),
            " FROM lmsw_deliveries d JOIN lmsw_messages m
               ON m.tenant = d.tenant AND m.event_id = d.event_id
             WHERE d.tenant = $1 AND d.endpoint_id = $2 AND ($3::text IS NULL OR d.event_id = $3)
               AND ($4::timestamptz IS NULL OR (d.state = 'gave_up' AND d.finished_at >= $4))
               AND (d.lease_until IS NULL OR d.lease_until < now())
             FOR UPDATE OF d SKIP LOCKED"
        ))
        .bind(tenant)
        .bind(endpoint_id)
        .bind(event_id)
        .bind(since.map(odt))
        .fetch_all(&mut *tx)
        .await?;
        let mut revived = 0;
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let mut delivery = crate::rows::from_row(&row)?;
            let done = match since {
                Some(_) => delivery.recover(now, by, reason).is_ok(),
                None => delivery.resend(now, by, reason).is_ok(),
            };
            if done {
                crate::rows::store(&mut tx, id, &delivery, None).await?;
                revived += 1;
            }
        }
        if revived > 0 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(revived)
    }

    /// Deletes finished deliveries (with their attempts and operations) older than
    /// `older_than`, and messages no delivery refers to any more, in batches of at most
    /// [`PURGE_BATCH`] rows, each its own short transaction read off an index (the finished
    /// time; the message's creation time): a purge of millions never holds locks or builds a
    /// transaction that long. Returns how many deliveries were deleted.
    pub async fn purge(&self, older_than: Duration) -> Result<u64, StoreError> {
        purge(&self.pool, older_than).await
    }

    /// How the queue stands, read off the partial indexes of pending and held deliveries
    /// (finished rows, however many, are not read).
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        Ok(queue_stats(&self.pool).await?.0)
    }

    /// Re-seals every endpoint under `new` in one transaction, and returns the outbox on the
    /// new key. The old key no longer opens anything afterwards.
    pub async fn rekey(self, new: MasterKey) -> Result<Outbox, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("SELECT tenant, id, sealed FROM lmsw_endpoints FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let tenant: String = row.try_get("tenant")?;
            let id: String = row.try_get("id")?;
            let endpoint =
                self.key
                    .open_endpoint(&tenant, &id, &row.try_get::<Vec<u8>, _>("sealed")?)?;
            let sealed = new.seal_endpoint(&tenant, &endpoint)?;
            sqlx::query("UPDATE lmsw_endpoints SET sealed = $3 WHERE tenant = $1 AND id = $2")
                .bind(&tenant)
                .bind(&id)
                .bind(sealed)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE lmsw_meta SET value = $1 WHERE key = 'master_key_check'")
            .bind(new.check_value()?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Outbox {
            pool: self.pool,
            key: new,
        })
    }
}

/// [`Outbox::purge`] with only a pool: deleting finished rows needs no master key.
pub async fn purge(pool: &PgPool, older_than: Duration) -> Result<u64, StoreError> {
    let cutoff = Timestamp::now()
        .checked_sub(older_than)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM lmsw_deliveries WHERE id IN (
               SELECT id FROM lmsw_deliveries
               WHERE finished_at IS NOT NULL AND finished_at < $1
               ORDER BY finished_at LIMIT $2)",
        )
        .bind(odt(cutoff))
        .bind(PURGE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n < PURGE_BATCH as u64 {
            break;
        }
    }
    loop {
        let n = sqlx::query(
            "DELETE FROM lmsw_messages WHERE (tenant, event_id) IN (
               SELECT m.tenant, m.event_id FROM lmsw_messages m
               WHERE m.created_at < $1 AND NOT EXISTS (SELECT 1 FROM lmsw_deliveries d
                 WHERE d.tenant = m.tenant AND d.event_id = m.event_id)
               ORDER BY m.created_at LIMIT $2)",
        )
        .bind(odt(cutoff))
        .bind(PURGE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        if n < PURGE_BATCH as u64 {
            break;
        }
    }
    Ok(deleted)
}

/// Held deliveries of an endpoint that is active again (or deleted: they then end) are due now.
async fn release_held(conn: &mut PgConnection, tenant: &str, id: &str) -> Result<(), StoreError> {
    let released = sqlx::query(
        "UPDATE lmsw_deliveries SET state = 'pending', next_due = now()
         WHERE tenant = $1 AND endpoint_id = $2 AND state = 'held'",
    )
    .bind(tenant)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if released.rows_affected() > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `NotFound` when an update by `(tenant, id)` touched no endpoint.
fn found(rows: u64, tenant: &str, id: &str) -> Result<(), StoreError> {
    match rows {
        0 => Err(StoreError::NotFound {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// How the queue stands (see [`Outbox::stats`]), and the oldest due delivery's wait in
/// fractional seconds (for the [`meter`](crate::meter) gauge).
pub(crate) async fn queue_stats(pool: &PgPool) -> Result<(QueueStats, f64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT
           (SELECT count(*) FROM lmsw_deliveries
            WHERE state = 'pending' AND lease_owner IS NULL)
           + (SELECT count(*) FROM lmsw_deliveries
              WHERE lease_owner IS NOT NULL AND state = 'pending') AS pending,
           (SELECT count(*) FROM lmsw_deliveries WHERE state = 'held') AS held,
           (SELECT count(*) FROM lmsw_deliveries
            WHERE lease_owner IS NOT NULL AND state = 'pending'
              AND lease_until > now()) AS leased,
           coalesce(extract(epoch FROM now() - (SELECT min(next_due) FROM lmsw_queue_heads
             WHERE next_due <= now())), 0)::float8 AS oldest",
    )
    .fetch_one(pool)
    .await?;
    let oldest: f64 = row.try_get("oldest")?;
    let stats = QueueStats {
        pending: row.try_get("pending")?,
        held: row.try_get("held")?,
        leased: row.try_get("leased")?,
        // Rounded, as the `bigint` it used to be read as.
        oldest_due_secs: oldest.round() as i64,
    };
    Ok((stats, oldest))
}
