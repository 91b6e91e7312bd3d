-- lms-webhooks-postgres, migration 9: what a publish reads of an endpoint, in plain columns.
-- An endpoint's event patterns and body layout are not secret: kept beside its sealed
-- settings, they let a publish fan out without the master key and without opening any
-- endpoint. Rows from before are filled in from their sealed settings when an outbox is next
-- opened (it holds the key); until then `layout` is NULL.
ALTER TABLE lmsw_endpoints
    ADD COLUMN patterns text[],
    ADD COLUMN layout   jsonb;
