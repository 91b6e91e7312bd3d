-- lms-webhooks-postgres, migration 11: the claim reads the worker's clock, and reads less.
-- A delivery falls due when its `next_due` has passed on the clock of the worker that claims
-- (`p_now`: the system clock in production, a fake one in tests and simulations), as its
-- retry was scheduled on that clock; leases stay on the database's time, the one clock every
-- process shares. Expired leases are looked for when the worker asks (`p_expired`, once a
-- second), not at every claim: that look reads every lease index entry, those that finished
-- deliveries left since the last VACUUM included. The second statement reads each endpoint's
-- queue from the first due time the first statement found (`p_heads`), past the index
-- entries of the deliveries leased since the last VACUUM. `lmsw_claim` as migration 10 first
-- made it (six arguments) is replaced.
DROP FUNCTION IF EXISTS lmsw_claim(text[], text[], integer[], text, bigint, double precision);

-- Claims read the queue and lease indexes from each endpoint's first entry; the entries that
-- leased and finished deliveries leave there are skipped but read until VACUUM removes them,
-- so a claim's cost follows the dead entries. Autovacuum visits these two tables after 1% of
-- their rows (plus a few thousand) have changed, instead of the default 20%: a table holding
-- a million finished deliveries is cleaned after ten thousand more, not two hundred thousand.
ALTER TABLE lmsw_deliveries
    SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 5000);
ALTER TABLE lmsw_endpoints
    SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
