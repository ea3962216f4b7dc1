-- How far into the uploaded file a running job has read, so progress is a true
-- percentage of file_size while the total row count is not known yet.
ALTER TABLE import_jobs
    ADD COLUMN bytes_processed bigint NOT NULL DEFAULT 0;
