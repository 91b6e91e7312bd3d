-- The claim, first statement: the endpoints with due deliveries and room for more in flight,
-- least recently served first, locked for this claim (`$5`: how many at most), as three
-- arrays in that order (tenants, ids, caps). Deliveries
-- whose endpoint is gone (a publish that raced the endpoint's deletion) end on the way.
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
  SELECT id, now(), 'endpoint_deleted', 'endpoint', 'the endpoint was deleted' FROM orphans),
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
