-- Issue 18: runs of a job that never reported back (their worker died, or lost Postgres,
-- and the lease lapsed), counted when the reconciler hands the job on. A job whose file
-- kills every worker that reads it is then failed after `job_max_lost_runs` such runs,
-- instead of being handed from worker to worker for ever.
ALTER TABLE import_jobs ADD COLUMN lost_runs integer NOT NULL DEFAULT 0;
