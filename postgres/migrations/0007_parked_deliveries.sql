-- lms-webhooks-postgres, migration 7: deliveries a worker could not attempt are parked.
-- A delivery whose row cannot be read, or whose endpoint cannot be unsealed, is set aside
-- with the reason instead of stopping the worker; `resend` takes it up again once the cause
-- is fixed. The states get the CHECK they lacked.
ALTER TABLE lmsw_deliveries
    ADD COLUMN parked_reason text,
    ADD CONSTRAINT lmsw_deliveries_state
        CHECK (state IN ('pending', 'held', 'done', 'gave_up', 'parked'));
CREATE INDEX lmsw_deliveries_parked ON lmsw_deliveries (tenant, endpoint_id) WHERE state = 'parked';
