-- Errors as data: each failed row of a job with its problems, queryable after the job
-- ends (GET /jobs/{id}/errors). Written per chunk by the run that holds the job, at most
-- ERROR_ROWS_STORED_MAX rows per job; the error CSV always has every failed row.
CREATE TABLE import_job_errors (
    job_id        uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    -- The physical line where the row starts in the upload (the header is line 1).
    line          bigint NOT NULL,
    -- [[header name, cell or null], ...] in the header's order (jsonb objects lose it).
    row_values    jsonb NOT NULL,
    -- Cells beyond the header, up to the last non-empty one.
    extra_values  jsonb NOT NULL DEFAULT '[]',
    -- [{code, column, value, message}, ...]
    problems      jsonb NOT NULL,
    PRIMARY KEY (job_id, line)
);

-- Failed rows per problem code and column, exact whatever the cap above:
-- [{code, column, rows}, ...], most frequent first. Kept up to date per chunk.
ALTER TABLE import_jobs
    ADD COLUMN error_summary jsonb NOT NULL DEFAULT '[]';
