-- The claim, second statement (a fresh snapshot, that sees every lease committed before the
-- first one's locks were taken): for the endpoints `$1`, `$2` with caps `$3`, in that order,
-- each one's free share of deliveries due at `$7` (the worker's clock; no more than `$5`
-- from one endpoint: a large cap reads no more of its queue than the claim can take),
-- round-robin, `$5` in all, leased to `$4` for `$6` seconds; their lanes marked served;
-- the deliveries returned with their body and their endpoint as it is now. `$9` holds each endpoint's first queued
-- due time as the first statement found it: the queue is read from there, past the index
-- entries that deliveries leased since the last VACUUM leave before it. (A delivery queued
-- before it meanwhile waits for the next claim, whose first statement finds it.)
WITH p AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $9::timestamptz[])
    WITH ORDINALITY AS p(tenant, id, cap, head, ord)),
room AS MATERIALIZED (
  SELECT p.tenant, p.id, p.ord, p.head, least(greatest(p.cap - (
    SELECT count(*) FROM lmsw_deliveries l
    WHERE l.lease_owner IS NOT NULL AND l.tenant = p.tenant AND l.endpoint_id = p.id
      AND l.lease_until >= now())::int, 0), $5) AS n
  FROM p),
due AS (
  SELECT c.id, r.ord, row_number() OVER (PARTITION BY r.ord ORDER BY c.next_due) AS turn
  FROM room r CROSS JOIN LATERAL (
    SELECT u.id, u.next_due FROM (
      (SELECT d.id, d.next_due FROM lmsw_deliveries d
       WHERE d.state = 'pending' AND d.lease_owner IS NULL
         AND d.tenant = r.tenant AND d.endpoint_id = r.id AND d.next_due <= $7
         AND d.next_due >= coalesce(r.head, '-infinity')
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
  UPDATE lmsw_lanes s SET served_at = clock_timestamp()
  FROM (SELECT DISTINCT tenant, endpoint_id FROM leased) x
  WHERE s.tenant = x.tenant AND s.endpoint_id = x.endpoint_id)
SELECT leased.id, leased.tenant, leased.event_id, leased.endpoint_id,
  coalesce(leased.body, m.body) AS body, leased.created_at, leased.state,
  leased.next_due, leased.attempt_count, leased.round_start,
  leased.round_first_at, leased.seed, leased.gave_up_reason, leased.gave_up_at,
  e.sealed, e.rate_per_second AS rate, e.status, e.consecutive_failures,
  e.failing_since, e.last_triggered_at
FROM leased
JOIN lmsw_messages m ON m.tenant = leased.tenant AND m.event_id = leased.event_id
LEFT JOIN lmsw_endpoints e ON e.tenant = leased.tenant AND e.id = leased.endpoint_id
