-- Before-images written by the tables' own statement triggers, one record per statement.
--
-- Until this migration each chunk's upsert read back, by id, the previous version of every
-- row it changed and inserted one `import_changes` row for it: the update path cost 1.6x
-- the statement without undo (docs/performance.md). Here a statement-level AFTER UPDATE
-- trigger takes the previous versions from the statement's transition table (exactly the
-- versions the statement replaced: no read, and never a stale image) and writes ONE
-- `import_change_sets` row per statement: the ids, the versions the statement wrote and
-- every updatable column's previous value as text. Only the old rows are collected: which
-- columns a job changed is told at revert time, against the row as it is then (a row
-- nobody changed since still holds the job's values). Comparing old and new rows here (a
-- join of the two transition tables) cost 1.12-1.18x the update path in the benchmark,
-- this 1.08x (docs/performance.md).
-- A revert unpacks a job's records into `import_changes` (one row per row, where it marks
-- its work) when it starts (import::revert).
--
-- The trigger keeps images only for the job named by the transaction-local setting
-- `batch_import.keep_changes_of`, which an import's statement sets itself
-- (import::upsert::Upsert::keep_changes); any other update (a revert's, one by hand)
-- keeps nothing. Every update an import makes increments `version` by one, so the version
-- it wrote is the old one plus one. Created rows need no image: they carry
-- `created_by_job`.
--
-- The three functions differ only in their columns, on purpose: static SQL is planned once
-- per session and cached. One function taking its columns as trigger arguments (EXECUTE of
-- a statement built at each call) measured 1.14x on the update path in an 11-round run,
-- against 1.08x for these in a 15-round one (docs/performance.md).

CREATE TABLE import_change_sets (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id    uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    -- The columns of `befores`, in order.
    columns   text[] NOT NULL,
    row_ids   uuid[] NOT NULL,
    -- The version each row got from the job's write.
    versions  bigint[] NOT NULL,
    -- [row][column]: every updatable column's value before the write, as text.
    -- lz4: several times faster than the default pglz on these large arrays.
    befores   text[] COMPRESSION lz4 NOT NULL
);
CREATE INDEX import_change_sets_job_idx ON import_change_sets (job_id);

-- The images kept row by row by jobs that ran before this migration stay where they are;
-- `import_changes` remains the revert's ledger.

CREATE FUNCTION keep_opportunity_changes() RETURNS trigger
    LANGUAGE plpgsql
    -- Dates as text in ISO form whatever the session's DateStyle.
    SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    job uuid := nullif(current_setting('batch_import.keep_changes_of', true), '')::uuid;
BEGIN
    IF job IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO import_change_sets (job_id, columns, row_ids, versions, befores)
    SELECT job, '{name,amount,close_date,stage,owner_name,owner_email,external_account_id,account,website,type,next_step}',
           array_agg(o.id), array_agg(o.version + 1),
           array_agg(ARRAY[o.name, o.amount::text, o.close_date::text, o.stage, o.owner_name,
                          o.owner_email, o.external_account_id, o.account, o.website, o.type,
                          o.next_step])
      FROM old_rows o
     -- Rows the job created itself need no image: a revert deletes them.
     WHERE o.created_by_job IS DISTINCT FROM job
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_changes
    AFTER UPDATE ON opportunities
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keep_opportunity_changes();

CREATE FUNCTION keep_contact_changes() RETURNS trigger
    LANGUAGE plpgsql
    -- Dates as text in ISO form whatever the session's DateStyle.
    SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    job uuid := nullif(current_setting('batch_import.keep_changes_of', true), '')::uuid;
BEGIN
    IF job IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO import_change_sets (job_id, columns, row_ids, versions, befores)
    SELECT job, '{email,fullname,first_name,last_name,title,company_name,phone,mobile_phone}',
           array_agg(o.id), array_agg(o.version + 1),
           array_agg(ARRAY[o.email, o.fullname, o.first_name, o.last_name, o.title, o.company_name,
                          o.phone, o.mobile_phone])
      FROM old_rows o
     -- Rows the job created itself need no image: a revert deletes them.
     WHERE o.created_by_job IS DISTINCT FROM job
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_changes
    AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keep_contact_changes();

CREATE FUNCTION keep_sales_target_changes() RETURNS trigger
    LANGUAGE plpgsql
    -- Dates as text in ISO form whatever the session's DateStyle.
    SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    job uuid := nullif(current_setting('batch_import.keep_changes_of', true), '')::uuid;
BEGIN
    IF job IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO import_change_sets (job_id, columns, row_ids, versions, befores)
    SELECT job, '{rep_email,amount}',
           array_agg(o.id), array_agg(o.version + 1),
           array_agg(ARRAY[o.rep_email, o.amount::text])
      FROM old_rows o
     -- Rows the job created itself need no image: a revert deletes them.
     WHERE o.created_by_job IS DISTINCT FROM job
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER keep_changes
    AFTER UPDATE ON sales_targets
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keep_sales_target_changes();
