-- lms-webhooks-postgres, migration 13: claims lock and mark narrow lanes, not endpoint rows.
-- Every claim locks the endpoints it serves while it runs and marks them served (`served_at`).
-- On the endpoint's own row (about 1 KiB with its sealed settings) that wrote a whole new
-- version of the row at every claim: measured, the rows of 10 endpoints filled 242 pages after
-- four worker processes drained 10,000 deliveries, and a claim read about 100 of them. A lane
-- is an endpoint's key and its `served_at`: claims lock and update it; the endpoint's row
-- changes only when the endpoint does, and writing its status no longer waits for a claim.
-- A lane comes with its endpoint (a trigger) and goes with it (the foreign key): deleting an
-- endpoint waits for the claim that holds its lane, as it waited for the endpoint's row.
CREATE TABLE lmsw_lanes (
    tenant      text        NOT NULL,
    endpoint_id text        NOT NULL,
    served_at   timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (tenant, endpoint_id),
    FOREIGN KEY (tenant, endpoint_id) REFERENCES lmsw_endpoints (tenant, id) ON DELETE CASCADE
);

INSERT INTO lmsw_lanes (tenant, endpoint_id, served_at)
SELECT tenant, id, served_at FROM lmsw_endpoints;

ALTER TABLE lmsw_endpoints DROP COLUMN served_at;

CREATE FUNCTION lmsw_add_lane() RETURNS trigger LANGUAGE plpgsql AS $lane$
BEGIN
  INSERT INTO lmsw_lanes (tenant, endpoint_id) VALUES (NEW.tenant, NEW.id)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$lane$;

CREATE TRIGGER lmsw_endpoint_lane AFTER INSERT ON lmsw_endpoints
    FOR EACH ROW EXECUTE FUNCTION lmsw_add_lane();

-- The claim function again, with the statements that read and mark the lanes.
