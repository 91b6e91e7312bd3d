-- lms-webhooks-postgres, migration 4: the receivers' shared deduplication store.
-- One row per event id and scope (a profile, an endpoint) a receiver has accepted; rows older
-- than the time-to-live count as forgotten and are purged. Idempotent, as migration 5: a
-- receiver's `migrate_dedupe` runs both without the outbox's migrations.
CREATE TABLE IF NOT EXISTS lmsw_seen (
    scope   text        NOT NULL,
    id      text        NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX IF NOT EXISTS lmsw_seen_at ON lmsw_seen (seen_at);
