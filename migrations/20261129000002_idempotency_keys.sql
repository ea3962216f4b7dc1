-- Idempotency-Key on uploads: the key a client sent and the SHA-256 of the uploaded bytes.
-- The unique index makes "one job per key and tenant" hold under concurrent uploads; a key
-- older than 24 hours is released (set to NULL) before it is used again.
ALTER TABLE import_jobs
    ADD COLUMN idempotency_key text,
    ADD COLUMN file_sha256 bytea;
CREATE UNIQUE INDEX import_jobs_idempotency_key_idx
    ON import_jobs (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
