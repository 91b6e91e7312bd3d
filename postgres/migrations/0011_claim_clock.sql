-- lms-webhooks-postgres, migration 11: the claim reads the worker's clock.
-- A delivery falls due when its `next_due` has passed on the clock of the worker that claims
-- (`p_now`: the system clock in production, a fake one in tests and simulations), as its
-- retry was scheduled on that clock; leases stay on the database's time, the one clock every
-- process shares. `lmsw_claim` as migration 10 first made it (six arguments) is replaced.
DROP FUNCTION IF EXISTS lmsw_claim(text[], text[], integer[], text, bigint, double precision);
