-- The worker's grouped write of outcomes (without its final SELECT: `record.rs` adds
-- `SELECT id FROM d`, migration 12's `lmsw_record_claim` collects the ids into an array).
-- `$1`..`$18`: one array per column, a row per outcome. Each delivery that the claim which
-- made its row still holds (`lease_owner` = the row's lease token) gets its new state and
-- its attempt row; the endpoints of the delivered ones are healthy again and their "Last
-- Triggered" moves to the attempt (an endpoint row is written only when that changes
-- something, "Last Triggered" to the second, and locked in a fixed order).
WITH i AS (
  SELECT * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::int[],
    $6::timestamptz[], $7::int[], $8::text[], $9::text[], $10::text[],
    $11::timestamptz[], $12::bigint[], $13::int[], $14::text[], $15::text[],
    $16::text[], $1::text[], $17::text[], $18::timestamptz[])
  AS i(id, state, next_due, attempt_count, round_first_at, number, tenant, event_id,
    endpoint_id, started_at, duration_ms, status, error, result, excerpt, lease,
    gave_up_reason, gave_up_at)),
d AS (
  UPDATE lmsw_deliveries SET state = i.state, next_due = i.next_due,
    attempt_count = i.attempt_count, round_first_at = i.round_first_at,
    gave_up_reason = i.gave_up_reason, gave_up_at = i.gave_up_at,
    lease_owner = NULL, lease_until = NULL,
    finished_at = CASE WHEN i.state IN ('done', 'gave_up') THEN now() ELSE NULL END
  FROM i WHERE lmsw_deliveries.id = i.id AND lmsw_deliveries.lease_owner = i.lease
  RETURNING lmsw_deliveries.id),
a AS (
  INSERT INTO lmsw_attempts (delivery_id, number, tenant, event_id, endpoint_id,
    started_at, duration_ms, status, error, result, excerpt)
  SELECT i.id, i.number, i.tenant, i.event_id, i.endpoint_id, i.started_at,
    i.duration_ms, i.status, i.error, i.result, i.excerpt
  FROM i JOIN d ON d.id = i.id
  ON CONFLICT (delivery_id, number) DO NOTHING),
t AS (
  SELECT i.tenant, i.endpoint_id, max(i.started_at) AS started_at
  FROM i JOIN d ON d.id = i.id WHERE i.result = 'delivered' GROUP BY 1, 2),
l AS (
  SELECT e.tenant, e.id, t.started_at FROM lmsw_endpoints e
  JOIN t ON e.tenant = t.tenant AND e.id = t.endpoint_id
  WHERE e.consecutive_failures <> 0 OR e.failing_since IS NOT NULL
    OR e.last_triggered_at IS NULL
    OR e.last_triggered_at < t.started_at - interval '1 second'
  ORDER BY e.tenant, e.id FOR UPDATE OF e),
h AS (
  UPDATE lmsw_endpoints e SET consecutive_failures = 0, failing_since = NULL,
    last_triggered_at = greatest(e.last_triggered_at, l.started_at)
  FROM l WHERE e.tenant = l.tenant AND e.id = l.id)
