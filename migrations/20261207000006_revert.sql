-- Undo an import (POST /jobs/{id}/revert).
--
-- Every imported row carries who wrote it: the job that created it, the job that last
-- changed it, and a version that each change increments. A revert deletes the rows a job
-- created and restores the rows it changed only where that job is still the last writer;
-- any other row was changed since (by another import, a correction or a revert) and is a
-- conflict, left alone. The version also tells an import whether the values it read
-- before its write are the ones its write replaced (no other write in between).
ALTER TABLE opportunities
    ADD COLUMN version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN created_by_job uuid,
    ADD COLUMN updated_by_job uuid;
ALTER TABLE contacts
    ADD COLUMN version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN created_by_job uuid,
    ADD COLUMN updated_by_job uuid;
ALTER TABLE sales_targets
    ADD COLUMN version        bigint NOT NULL DEFAULT 1,
    ADD COLUMN created_by_job uuid,
    ADD COLUMN updated_by_job uuid;

-- The job that made a contact's link to an opportunity, so that its revert removes it.
ALTER TABLE contact_opportunities ADD COLUMN job_id uuid;
CREATE INDEX contact_opportunities_job_idx ON contact_opportunities (job_id, contact_id)
    WHERE job_id IS NOT NULL;

-- The before-images: for each row a job changed (not created), the values of the columns
-- it changed as they were before, written in the same statement as the change. `before`
-- is NULL when another write came between the job's read and its write (the previous
-- values are then unknown, and a revert leaves the row alone). `version` is the row's
-- version once the job wrote it. A row the job wrote in several chunks keeps the values
-- of the first. `reverted_by` marks the rows a revert job has restored (or, for created
-- rows, deleted: those get a row here only then), in the same transaction.
CREATE TABLE import_changes (
    job_id       uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_id       uuid NOT NULL,
    created      boolean NOT NULL DEFAULT false,
    version      bigint NOT NULL,
    before       jsonb,
    reverted_by  uuid,
    PRIMARY KEY (job_id, row_id)
);

-- A revert job names the job it undoes; a job keeps its changes for a revert until they
-- are purged (REVERT_RETENTION_DAYS after it ended). Jobs imported before this migration
-- kept none.
ALTER TABLE import_jobs
    ADD COLUMN reverts_job_id    uuid REFERENCES import_jobs (id),
    ADD COLUMN deleted_rows      bigint,
    ADD COLUMN restored_rows     bigint,
    ADD COLUMN conflict_rows     bigint,
    ADD COLUMN changes_kept      boolean NOT NULL DEFAULT false,
    ADD COLUMN changes_purged_at timestamptz;
ALTER TABLE import_jobs ALTER COLUMN changes_kept SET DEFAULT true;

-- At most one revert of a job that is not a dry run and has not failed or been cancelled:
-- two requests racing to revert the same job cannot both make one.
CREATE UNIQUE INDEX import_jobs_one_revert_idx ON import_jobs (reverts_job_id)
    WHERE reverts_job_id IS NOT NULL AND NOT dry_run AND state IN ('queued', 'running', 'completed');
CREATE INDEX import_jobs_reverts_idx ON import_jobs (reverts_job_id, created_at)
    WHERE reverts_job_id IS NOT NULL;
