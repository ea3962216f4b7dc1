-- Corrections of failed rows: a job made from the corrected failed rows of another job
-- names that job as its parent, so the parent can list its corrections and a client can
-- walk from a correction back to the file it fixes.
ALTER TABLE import_jobs ADD COLUMN parent_job_id uuid REFERENCES import_jobs (id);

-- A job's corrections are read with every view of it (and counted before a new one is
-- made): by parent, in the order they were made.
CREATE INDEX import_jobs_parent_idx ON import_jobs (parent_job_id, created_at, id)
    WHERE parent_job_id IS NOT NULL;
