-- lms-webhooks-postgres, migration 3: narrower delivery indexes.
-- Every attempt's outcome rewrites its delivery row, and each index whose predicate the new
-- row matches takes a new entry. The per-endpoint lookups only ever look for held deliveries
-- (released on resume) and for those that gave up (recovered since a time), so the index on
-- every delivery by endpoint becomes two partial ones that a delivered row never enters.
DROP INDEX lmsw_deliveries_endpoint;
CREATE INDEX lmsw_deliveries_held ON lmsw_deliveries (tenant, endpoint_id) WHERE state = 'held';
CREATE INDEX lmsw_deliveries_gave_up ON lmsw_deliveries (tenant, endpoint_id, finished_at)
    WHERE state = 'gave_up';
