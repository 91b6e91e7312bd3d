//! The claim: fair across endpoints, capped per endpoint, one transaction of two statements.
//!
//! Every endpoint is a lane. The first statement finds the endpoints that have a due delivery
//! (a walk over the queue index that reads one entry per endpoint), keeps those below their
//! cap of deliveries in flight, and locks the least recently served of them (`SKIP LOCKED`:
//! concurrent claimers take other endpoints). The second statement, with a fresh snapshot
//! that sees every lease committed before those locks were taken, counts each endpoint's live
//! leases again, takes at most its free share of due deliveries, round-robin across the
//! endpoints (every endpoint's first, then every endpoint's second, ...), leases them and
//! returns them with their message body and their endpoint. Both statements read only the
//! partial indexes of queued and leased deliveries: however many finished rows the table
//! holds, they are never read.

use std::sync::atomic::Ordering;

use sqlx::Row;

use crate::StoreError;

use super::{Claimed, Worker, NEXT_CLAIM};
use lms_webhooks::transport::Transport;

/// The endpoints with due deliveries and room for more in flight, least recently served
/// first, locked for this claim. Deliveries whose endpoint is gone (a publish that raced the
/// endpoint's deletion) are ended on the way.
pub(crate) const PICK: &str = "
WITH RECURSIVE heads AS (
  (SELECT tenant, endpoint_id, next_due FROM lmsw_deliveries
   WHERE state = 'pending' AND lease_owner IS NULL
   ORDER BY tenant, endpoint_id, next_due LIMIT 1)
  UNION ALL
  SELECT n.tenant, n.endpoint_id, n.next_due FROM heads h CROSS JOIN LATERAL (
    SELECT tenant, endpoint_id, next_due FROM lmsw_deliveries
    WHERE state = 'pending' AND lease_owner IS NULL
      AND (tenant, endpoint_id) > (h.tenant, h.endpoint_id)
    ORDER BY tenant, endpoint_id, next_due LIMIT 1) n),
ready AS (
  SELECT tenant, endpoint_id FROM heads WHERE next_due <= now()
  UNION
  SELECT tenant, endpoint_id FROM lmsw_deliveries
  WHERE lease_owner IS NOT NULL AND lease_until < now() AND state = 'pending'),
gone AS (
  SELECT r.tenant, r.endpoint_id FROM ready r
  WHERE NOT EXISTS (SELECT 1 FROM lmsw_endpoints e
                    WHERE e.tenant = r.tenant AND e.id = r.endpoint_id)),
orphans AS (
  UPDATE lmsw_deliveries d SET state = 'gave_up', gave_up_reason = 'endpoint_deleted',
    gave_up_at = now(), finished_at = now(), lease_owner = NULL, lease_until = NULL
  WHERE d.id = ANY (ARRAY(
      SELECT q.id FROM gone g CROSS JOIN LATERAL (
        SELECT x.id FROM lmsw_deliveries x
        WHERE x.state = 'pending' AND x.lease_owner IS NULL
          AND x.tenant = g.tenant AND x.endpoint_id = g.endpoint_id
        UNION ALL
        SELECT x.id FROM lmsw_deliveries x
        WHERE x.lease_owner IS NOT NULL AND x.state = 'pending'
          AND x.tenant = g.tenant AND x.endpoint_id = g.endpoint_id
          AND x.lease_until < now()) q))
    AND d.state = 'pending'
  RETURNING d.id),
noted AS (
  INSERT INTO lmsw_operations (delivery_id, at, action, by_whom, reason)
  SELECT id, now(), 'endpoint_deleted', 'endpoint', 'the endpoint was deleted' FROM orphans)
SELECT e.tenant, e.id, e.max_in_flight
FROM lmsw_endpoints e JOIN ready r ON r.tenant = e.tenant AND r.endpoint_id = e.id
WHERE e.max_in_flight > (
  SELECT count(*) FROM lmsw_deliveries l
  WHERE l.lease_owner IS NOT NULL AND l.tenant = r.tenant AND l.endpoint_id = r.endpoint_id
    AND l.lease_until >= now())
ORDER BY e.served_at, e.tenant, e.id
LIMIT $1
FOR NO KEY UPDATE OF e SKIP LOCKED";

/// Leases, for the endpoints `PICK` locked (in its order), each one's free share of due
/// deliveries, round-robin, `$5` in all; marks those endpoints served; returns the leased
/// deliveries with their body and their endpoint as it is now.
pub(crate) const TAKE: &str = "
WITH p AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS p(tenant, id, cap, ord)),
room AS MATERIALIZED (
  SELECT p.tenant, p.id, p.ord, greatest(p.cap - (
    SELECT count(*) FROM lmsw_deliveries l
    WHERE l.lease_owner IS NOT NULL AND l.tenant = p.tenant AND l.endpoint_id = p.id
      AND l.lease_until >= now())::int, 0) AS n
  FROM p),
due AS (
  SELECT c.id, r.ord, row_number() OVER (PARTITION BY r.ord ORDER BY c.next_due) AS turn
  FROM room r CROSS JOIN LATERAL (
    SELECT u.id, u.next_due FROM (
      (SELECT d.id, d.next_due FROM lmsw_deliveries d
       WHERE d.state = 'pending' AND d.lease_owner IS NULL
         AND d.tenant = r.tenant AND d.endpoint_id = r.id AND d.next_due <= now()
       ORDER BY d.next_due LIMIT r.n)
      UNION ALL
      (SELECT d.id, d.next_due FROM lmsw_deliveries d
       WHERE d.lease_owner IS NOT NULL AND d.tenant = r.tenant AND d.endpoint_id = r.id
         AND d.lease_until < now() AND d.state = 'pending'
       LIMIT r.n)) u
    ORDER BY u.next_due LIMIT r.n) c),
chosen AS (SELECT id FROM due ORDER BY turn, ord LIMIT $5),
leased AS (
  UPDATE lmsw_deliveries d SET lease_owner = $4,
         lease_until = now() + make_interval(secs => $6)
  WHERE d.id = ANY (ARRAY(SELECT id FROM chosen)) AND d.state = 'pending'
    AND (d.lease_owner IS NULL OR d.lease_until < now())
  RETURNING d.id, d.tenant, d.event_id, d.endpoint_id, d.body, d.created_at, d.state,
    d.next_due, d.attempt_count, d.round_start, d.round_first_at, d.seed, d.gave_up_reason,
    d.gave_up_at),
served AS (
  UPDATE lmsw_endpoints e SET served_at = clock_timestamp()
  FROM (SELECT DISTINCT tenant, endpoint_id FROM leased) s
  WHERE e.tenant = s.tenant AND e.id = s.endpoint_id)
SELECT leased.id, leased.tenant, leased.event_id, leased.endpoint_id,
  coalesce(leased.body, m.body) AS body, leased.created_at, leased.state,
  leased.next_due, leased.attempt_count, leased.round_start,
  leased.round_first_at, leased.seed, leased.gave_up_reason, leased.gave_up_at,
  e.sealed, e.rate_per_second AS rate, e.status, e.consecutive_failures,
  e.failing_since, e.last_triggered_at
FROM leased
JOIN lmsw_messages m ON m.tenant = leased.tenant AND m.event_id = leased.event_id
LEFT JOIN lmsw_endpoints e ON e.tenant = leased.tenant AND e.id = leased.endpoint_id";

impl<T: Transport + 'static> Worker<T> {
    /// Leases up to `n` due deliveries, fairly (see the module's documentation), each with its
    /// endpoint as it is now, under a lease token of this claim's own. Four round trips
    /// (begin, pick, take, commit), whatever `n`.
    pub(super) async fn claim(&self, n: usize) -> Result<Vec<Claimed>, StoreError> {
        let lease = format!(
            "{}#{}",
            self.owner,
            NEXT_CLAIM.fetch_add(1, Ordering::Relaxed)
        );
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let picked = sqlx::query(PICK).bind(limit).fetch_all(&mut *tx).await?;
        if picked.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut tenants = Vec::with_capacity(picked.len());
        let mut ids = Vec::with_capacity(picked.len());
        let mut caps = Vec::with_capacity(picked.len());
        for row in &picked {
            tenants.push(row.try_get::<String, _>("tenant")?);
            ids.push(row.try_get::<String, _>("id")?);
            caps.push(row.try_get::<i32, _>("max_in_flight")?);
        }
        let rows = sqlx::query(TAKE)
            .bind(&tenants)
            .bind(&ids)
            .bind(&caps)
            .bind(&lease)
            .bind(limit)
            .bind(self.lease.as_secs_f64())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.try_get("id")?,
                    lease: lease.clone(),
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
            })
            .collect()
    }
}
