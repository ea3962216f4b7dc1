-- The sheet of a workbook upload the user asked for (`sheet=<name or 1-based index>`);
-- NULL: the first visible sheet, or a CSV upload.
ALTER TABLE import_jobs ADD COLUMN sheet text;
