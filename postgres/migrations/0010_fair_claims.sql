-- lms-webhooks-postgres, migration 10: fair claims.
-- Each endpoint is a lane: at most `max_in_flight` of its deliveries are leased at once,
-- across every worker and machine, and claims serve the endpoints with due deliveries least
-- recently served first (`served_at`), not the oldest deliveries overall. A claim reads two
-- small partial indexes: the queue (pending, not leased: the next due of each endpoint is the
-- first entry of its range) and the leases (what is in flight, per endpoint). Neither holds a
-- finished row, so a claim's cost does not grow with the table.
ALTER TABLE lmsw_endpoints
    ADD COLUMN max_in_flight integer NOT NULL DEFAULT 4
        CONSTRAINT lmsw_endpoints_max_in_flight CHECK (max_in_flight BETWEEN 1 AND 10000),
    ADD COLUMN served_at timestamptz NOT NULL DEFAULT '-infinity';

CREATE INDEX lmsw_deliveries_queue ON lmsw_deliveries (tenant, endpoint_id, next_due)
    WHERE state = 'pending' AND lease_owner IS NULL;
CREATE INDEX lmsw_deliveries_leased ON lmsw_deliveries (tenant, endpoint_id, lease_until)
    WHERE lease_owner IS NOT NULL;
DROP INDEX lmsw_deliveries_due;

-- A delivery that ended (done, gave up, parked, held) keeps no lease.
UPDATE lmsw_deliveries SET lease_owner = NULL, lease_until = NULL
WHERE state <> 'pending' AND lease_owner IS NOT NULL;

-- Each endpoint's next queued delivery (`next_due`), one index entry read per endpoint: a
-- walk that skips from one endpoint's range of the queue index to the next. Claims, the sweep
-- of deleted endpoints' deliveries and the statistics read it.
CREATE VIEW lmsw_queue_heads AS
WITH RECURSIVE heads AS (
  (SELECT tenant, endpoint_id, next_due FROM lmsw_deliveries
   WHERE state = 'pending' AND lease_owner IS NULL
   ORDER BY tenant, endpoint_id, next_due LIMIT 1)
  UNION ALL
  SELECT n.tenant, n.endpoint_id, n.next_due FROM heads h CROSS JOIN LATERAL (
    SELECT tenant, endpoint_id, next_due FROM lmsw_deliveries
    WHERE state = 'pending' AND lease_owner IS NULL
      AND (tenant, endpoint_id) > (h.tenant, h.endpoint_id)
    ORDER BY tenant, endpoint_id, next_due LIMIT 1) n)
SELECT tenant, endpoint_id, next_due FROM heads;
