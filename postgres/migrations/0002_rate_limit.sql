-- lms-webhooks-postgres, migration 2: per-endpoint rate limits, held across all workers.
-- A token bucket per endpoint: `rate_per_second` tokens a second, a burst of one second's
-- worth (at least one), refilled when taken.
ALTER TABLE lmsw_endpoints
    ADD COLUMN rate_per_second double precision,
    ADD COLUMN rate_tokens     double precision NOT NULL DEFAULT 0,
    ADD COLUMN rate_at         timestamptz      NOT NULL DEFAULT now();
