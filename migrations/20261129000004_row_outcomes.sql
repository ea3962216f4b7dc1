-- What became of each imported row: created, updated, or unchanged (its values were
-- already stored, so it was not rewritten). created + updated + unchanged equals
-- total_imported_rows once a job has run. dry_run marks a job that checked its file and
-- counted what an import would do, inside a transaction that was rolled back.
ALTER TABLE import_jobs
    ADD COLUMN created_rows   bigint,
    ADD COLUMN updated_rows   bigint,
    ADD COLUMN unchanged_rows bigint,
    ADD COLUMN dry_run        boolean NOT NULL DEFAULT false;
