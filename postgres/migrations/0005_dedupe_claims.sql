-- lms-webhooks-postgres, migration 5: the receivers' deduplication becomes claim, then commit
-- or release. A row with a claim token is being handled until `lease_until`; a row without
-- one was handled (committed) at `seen_at`. The rows of migration 4 are handled ones.
-- Idempotent (see migration 4).
ALTER TABLE lmsw_seen
    ADD COLUMN IF NOT EXISTS claim_token bigint,
    ADD COLUMN IF NOT EXISTS lease_until timestamptz;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'lmsw_seen_claim_has_lease') THEN
        ALTER TABLE lmsw_seen ADD CONSTRAINT lmsw_seen_claim_has_lease
            CHECK ((claim_token IS NULL) = (lease_until IS NULL));
    END IF;
END
$$;
