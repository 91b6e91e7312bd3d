-- The claim, first statement: the endpoints with due deliveries (due on the worker's clock,
-- `$7`) and room for more in flight, least recently served first, locked for this claim
-- (`$5`: how many at most), as three arrays in that order (tenants, ids, caps). Leases are
-- the database's time: they fence processes, and every process reads the same one.
WITH ready AS (
  SELECT tenant, endpoint_id FROM lmsw_queue_heads WHERE next_due <= $7
  UNION
  SELECT tenant, endpoint_id FROM lmsw_deliveries
  WHERE lease_owner IS NOT NULL AND lease_until < now() AND state = 'pending'),
picked AS (
  SELECT e.tenant, e.id, e.max_in_flight, e.served_at
  FROM lmsw_endpoints e JOIN ready r ON r.tenant = e.tenant AND r.endpoint_id = e.id
  WHERE e.max_in_flight > (
    SELECT count(*) FROM lmsw_deliveries l
    WHERE l.lease_owner IS NOT NULL AND l.tenant = r.tenant AND l.endpoint_id = r.endpoint_id
      AND l.lease_until >= now())
  ORDER BY e.served_at, e.tenant, e.id
  LIMIT $5
  FOR NO KEY UPDATE OF e SKIP LOCKED)
SELECT array_agg(tenant ORDER BY served_at, tenant, id) AS tenants,
  array_agg(id ORDER BY served_at, tenant, id) AS ids,
  array_agg(max_in_flight ORDER BY served_at, tenant, id) AS caps
FROM picked
