-- lms-webhooks-postgres, migration 1: the outbox.
-- Endpoints are stored encrypted under the host's master key (`sealed`); the plaintext
-- columns beside them hold only what lists and claims need.

CREATE TABLE lmsw_meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE lmsw_endpoints (
    tenant     text        NOT NULL,
    id         text        NOT NULL,
    status     text        NOT NULL,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

CREATE TABLE lmsw_messages (
    tenant      text        NOT NULL,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, event_id)
);

CREATE TABLE lmsw_deliveries (
    id            bigserial   PRIMARY KEY,
    tenant        text        NOT NULL,
    event_id      text        NOT NULL,
    endpoint_id   text        NOT NULL,
    -- pending | held | done | gave_up
    state         text        NOT NULL,
    next_due      timestamptz,
    attempt_count integer     NOT NULL DEFAULT 0,
    lease_owner   text,
    lease_until   timestamptz,
    -- The core crate's stored delivery (no secret, key or URL).
    delivery      bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    UNIQUE (tenant, event_id, endpoint_id)
);

-- Claiming the next due delivery reads this partial index only: finished rows, however many,
-- are not in it.
CREATE INDEX lmsw_deliveries_due ON lmsw_deliveries (next_due) WHERE state = 'pending';
CREATE INDEX lmsw_deliveries_endpoint ON lmsw_deliveries (tenant, endpoint_id, state);
CREATE INDEX lmsw_deliveries_finished ON lmsw_deliveries (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE lmsw_attempts (
    delivery_id bigint      NOT NULL REFERENCES lmsw_deliveries (id) ON DELETE CASCADE,
    number      integer     NOT NULL,
    tenant      text        NOT NULL,
    event_id    text        NOT NULL,
    endpoint_id text        NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms bigint      NOT NULL,
    status      integer,
    error       text,
    result      text        NOT NULL,
    excerpt     text        NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, number)
);

-- The log by endpoint reads this index; the log by event goes through the deliveries'
-- (tenant, event_id, endpoint_id) key to the attempts' primary key. One secondary index only:
-- every attempt writes a row here.
CREATE INDEX lmsw_attempts_endpoint ON lmsw_attempts (tenant, endpoint_id, started_at);
