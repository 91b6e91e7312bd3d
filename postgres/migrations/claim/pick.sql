-- The claim, first statement: the endpoints with due deliveries (due on the worker's clock,
-- `$7`) and room for more in flight, least recently served first, their lanes locked for
-- this claim (`$5`: how many at most; a lane is the endpoint's narrow row of claims, migration
-- 13, and the endpoint's own row is only read), as four arrays in that order (tenants, ids,
-- caps, and the due time of each one's first queued delivery). Leases are the database's time: they fence
-- processes, and every process reads the same one. Endpoints whose leases expired (a worker
-- died) are looked for when `$8` says so: a scan of every lease, which the worker asks for
-- once a second, not at every claim.
WITH ready AS (
  SELECT tenant, endpoint_id, next_due AS head FROM lmsw_queue_heads WHERE next_due <= $7
  UNION ALL
  SELECT DISTINCT tenant, endpoint_id, NULL::timestamptz FROM lmsw_deliveries
  WHERE $8 AND lease_owner IS NOT NULL AND lease_until < now() AND state = 'pending'),
due AS (
  SELECT tenant, endpoint_id, min(head) AS head FROM ready GROUP BY tenant, endpoint_id),
picked AS (
  SELECT e.tenant, e.id, e.max_in_flight, s.served_at, r.head
  FROM lmsw_lanes s
  JOIN due r ON r.tenant = s.tenant AND r.endpoint_id = s.endpoint_id
  JOIN lmsw_endpoints e ON e.tenant = s.tenant AND e.id = s.endpoint_id
  WHERE e.max_in_flight > (
    SELECT count(*) FROM lmsw_deliveries l
    WHERE l.lease_owner IS NOT NULL AND l.tenant = r.tenant AND l.endpoint_id = r.endpoint_id
      AND l.lease_until >= now())
  ORDER BY s.served_at, s.tenant, s.endpoint_id
  LIMIT $5
  FOR NO KEY UPDATE OF s SKIP LOCKED)
SELECT array_agg(tenant ORDER BY served_at, tenant, id) AS tenants,
  array_agg(id ORDER BY served_at, tenant, id) AS ids,
  array_agg(max_in_flight ORDER BY served_at, tenant, id) AS caps,
  array_agg(head ORDER BY served_at, tenant, id) AS heads
FROM picked
