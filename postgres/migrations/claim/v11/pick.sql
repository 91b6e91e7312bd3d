-- As migration 11 created it (migrations are history: the live statement is `../pick.sql`,
-- which migration 13 installed).
-- The claim, first statement: the endpoints with due deliveries (due on the worker's clock,
-- `$7`) and room for more in flight, least recently served first, locked for this claim
-- (`$5`: how many at most), as four arrays in that order (tenants, ids, caps, and the due
-- time of each one's first queued delivery). Leases are the database's time: they fence
-- processes, and every process reads the same one. Endpoints whose leases expired (a worker
-- died) are looked for when `$8` says so: a scan of every lease, which the worker asks for
-- once a second, not at every claim.
WITH ready AS (
  SELECT tenant, endpoint_id, next_due AS head FROM lmsw_queue_heads WHERE next_due <= $7
  UNION ALL
  SELECT DISTINCT tenant, endpoint_id, NULL::timestamptz FROM lmsw_deliveries
  WHERE $8 AND lease_owner IS NOT NULL AND lease_until < now() AND state = 'pending'),
lanes AS (
  SELECT tenant, endpoint_id, min(head) AS head FROM ready GROUP BY tenant, endpoint_id),
picked AS (
  SELECT e.tenant, e.id, e.max_in_flight, e.served_at, r.head
  FROM lmsw_endpoints e JOIN lanes r ON r.tenant = e.tenant AND r.endpoint_id = e.id
  WHERE e.max_in_flight > (
    SELECT count(*) FROM lmsw_deliveries l
    WHERE l.lease_owner IS NOT NULL AND l.tenant = r.tenant AND l.endpoint_id = r.endpoint_id
      AND l.lease_until >= now())
  ORDER BY e.served_at, e.tenant, e.id
  LIMIT $5
  FOR NO KEY UPDATE OF e SKIP LOCKED)
SELECT array_agg(tenant ORDER BY served_at, tenant, id) AS tenants,
  array_agg(id ORDER BY served_at, tenant, id) AS ids,
  array_agg(max_in_flight ORDER BY served_at, tenant, id) AS caps,
  array_agg(head ORDER BY served_at, tenant, id) AS heads
FROM picked
