-- lms-webhooks-postgres, migration 6: endpoint health in plain columns.
-- Workers change it with atomic updates under the row's lock, never by rewriting the sealed
-- settings; "Last Triggered" is written by the workers. The failure rule (threshold, period)
-- is copied from the sealed settings so that health can be judged without the master key.
-- Rows from before are filled in from their sealed settings when an outbox is next opened
-- (it holds the key): until then `failure_threshold` is NULL.
ALTER TABLE lmsw_endpoints
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0
        CONSTRAINT lmsw_endpoints_failures CHECK (consecutive_failures >= 0),
    ADD COLUMN failing_since       timestamptz,
    ADD COLUMN last_triggered_at   timestamptz,
    ADD COLUMN failure_threshold   integer,
    ADD COLUMN failing_period_secs double precision,
    ADD CONSTRAINT lmsw_endpoints_status
        CHECK (status IN ('active', 'paused', 'disabled', 'failed'));
