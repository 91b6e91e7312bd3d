-- Deliveries whose endpoint is gone (a publish that raced the endpoint's deletion) end,
-- logged as the deletion logs them. Workers run it when their queue runs dry (`$1`: the
-- worker's clock, as for claims).
WITH ready AS (
  SELECT tenant, endpoint_id FROM lmsw_queue_heads WHERE next_due <= $1
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
SELECT count(*) AS ended FROM orphans
