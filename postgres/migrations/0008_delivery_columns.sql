-- lms-webhooks-postgres, migration 8: a delivery row is typed columns.
-- Before, each row held the core crate's whole stored delivery as JSON: the body (base64)
-- once more per endpoint, and every attempt again beside `lmsw_attempts`, rewritten at each
-- attempt. Now the body lives once per event in `lmsw_messages` (a row keeps one only when its
-- endpoint's layout made it differ), the attempts only in `lmsw_attempts`, the operations in
-- `lmsw_operations`, and the state in columns. Every row is converted, whatever its state.
ALTER TABLE lmsw_deliveries
    ADD COLUMN round_start    integer NOT NULL DEFAULT 0,
    ADD COLUMN round_first_at timestamptz,
    ADD COLUMN seed           bigint  NOT NULL DEFAULT 0,
    ADD COLUMN gave_up_reason text,
    ADD COLUMN gave_up_at     timestamptz,
    ADD COLUMN body           bytea;

CREATE TABLE lmsw_operations (
    delivery_id bigint      NOT NULL REFERENCES lmsw_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    by_whom     text        NOT NULL,
    reason      text        NOT NULL
);
CREATE INDEX lmsw_operations_delivery ON lmsw_operations (delivery_id);

CREATE TEMPORARY TABLE lmsw_converted ON COMMIT DROP AS
    SELECT id, convert_from(delivery, 'UTF8')::jsonb AS j FROM lmsw_deliveries;

UPDATE lmsw_deliveries d SET
    round_start = coalesce((c.j->>'round_start')::integer, 0),
    round_first_at =
        (c.j->'attempts'->coalesce((c.j->>'round_start')::integer, 0)->>'started_at')::timestamptz,
    -- The seed is an unsigned 64-bit number: kept as the signed one with the same bits.
    seed = (CASE WHEN (c.j->>'seed')::numeric >= 9223372036854775808
                 THEN (c.j->>'seed')::numeric - 18446744073709551616
                 ELSE (c.j->>'seed')::numeric END)::bigint,
    gave_up_reason = CASE WHEN c.j->>'state' = 'gave_up' THEN c.j->>'reason' END,
    gave_up_at = CASE WHEN c.j->>'state' = 'gave_up' THEN (c.j->>'at')::timestamptz END,
    attempt_count = coalesce((c.j->>'attempt_count')::integer, d.attempt_count),
    created_at = coalesce((c.j->>'created_at')::timestamptz, d.created_at),
    body = decode(c.j->>'body', 'base64')
FROM lmsw_converted c WHERE c.id = d.id;

INSERT INTO lmsw_operations (delivery_id, at, action, by_whom, reason)
SELECT c.id, (op->>'at')::timestamptz, op->>'action', op->>'by', op->>'reason'
FROM lmsw_converted c, jsonb_array_elements(coalesce(c.j->'operations', '[]'::jsonb)) AS op;

-- Test pings were deliveries without a message: give each one, so that every delivery has.
INSERT INTO lmsw_messages (tenant, event_id, event_type, occurred_at, body, created_at)
SELECT DISTINCT ON (d.tenant, d.event_id)
       d.tenant, d.event_id, 'webhook.test', d.created_at, d.body, d.created_at
FROM lmsw_deliveries d
WHERE NOT EXISTS (SELECT 1 FROM lmsw_messages m
                  WHERE m.tenant = d.tenant AND m.event_id = d.event_id)
ORDER BY d.tenant, d.event_id, d.id;

-- The body stays on the row only where it differs from its message's.
UPDATE lmsw_deliveries d SET body = NULL
FROM lmsw_messages m
WHERE m.tenant = d.tenant AND m.event_id = d.event_id AND m.body = d.body;

ALTER TABLE lmsw_deliveries
    DROP COLUMN delivery,
    ADD CONSTRAINT lmsw_deliveries_message FOREIGN KEY (tenant, event_id)
        REFERENCES lmsw_messages (tenant, event_id),
    ADD CONSTRAINT lmsw_deliveries_counts
        CHECK (attempt_count >= 0 AND round_start >= 0 AND round_start <= attempt_count),
    ADD CONSTRAINT lmsw_deliveries_gave_up
        CHECK ((state = 'gave_up') = (gave_up_reason IS NOT NULL));
CREATE INDEX lmsw_messages_created ON lmsw_messages (created_at);
