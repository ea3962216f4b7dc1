-- Postgres is the only truth about a job: who runs it (a lease), when it may run next, and
-- which queue task last carried it. The reconciler reads these to recover from a lost
-- Redis, a dead API between insert and enqueue, or a worker that stopped reporting.
ALTER TABLE import_jobs
    ADD COLUMN lease_owner      text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN task_id          uuid,
    ADD COLUMN enqueued_at      timestamptz,
    ADD COLUMN run_after        timestamptz NOT NULL DEFAULT now();

-- The reconciler scans only unfinished jobs.
CREATE INDEX import_jobs_unfinished_idx ON import_jobs (state, run_after)
    WHERE state IN ('queued', 'running');
