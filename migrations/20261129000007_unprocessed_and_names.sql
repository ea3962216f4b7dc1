-- Issue 9, part 6: a name the uploader may give a job (trimmed, 1 to 200 characters, no
-- control characters; the API checks and explains), shown on the job and matched
-- exactly by GET /jobs?name=. (Part 3, the unprocessed rows of a cancelled or failed
-- job, needs no column: they live in the file store as <job>.unprocessed.csv.)
ALTER TABLE import_jobs
    ADD COLUMN name text CHECK (char_length(name) BETWEEN 1 AND 200);
CREATE INDEX import_jobs_tenant_name_idx ON import_jobs (tenant_id, name, created_at DESC)
    WHERE name IS NOT NULL;
