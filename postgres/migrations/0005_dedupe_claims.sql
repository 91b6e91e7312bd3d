-- lms-webhooks-postgres, migration 5: the receivers' deduplication becomes claim, then commit
-- or release. A row with a claim token is being handled until `lease_until`; a row without
-- one was handled (committed) at `seen_at`. The rows of migration 4 are handled ones.
ALTER TABLE lmsw_seen
    ADD COLUMN claim_token bigint,
    ADD COLUMN lease_until timestamptz,
    ADD CONSTRAINT lmsw_seen_claim_has_lease
        CHECK ((claim_token IS NULL) = (lease_until IS NULL));
