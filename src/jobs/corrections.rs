//! Corrections of failed rows (`POST /jobs/{id}/corrections`): the failed rows of an
//! ended job, with the cells the user corrected, become the upload of a new job of the
//! same kind — the *correction*, which names the job as its parent — and go through the
//! same submit path and the same engine as any upload: same validation, counts, error
//! data, email and webhooks. A row that still fails is a failed row of the correction,
//! to be corrected in turn.
//!
//! The correction's file puts each row on the line it had in the parent's upload (blank
//! lines, which the reader skips and does not count, fill the gaps), so the correction's
//! failed rows carry the lines the user saw in the parent's error data and error CSV.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    queue::JobQueue,
    submit::{self, SubmitError},
};
use crate::{
    db::{
        self,
        jobs::{JobRecord, NewJob},
        schedule::QueueFull,
    },
    domain::JobName,
    import::limits::MAX_FIELD_BYTES,
    storage::{Store, StoreError},
};

/// The most rows one correction may carry: as many as a job stores failed rows by default
/// (`ERROR_ROWS_STORED_MAX`).
pub(crate) const MAX_ROWS: usize = 10_000;

/// The most corrections one job may have; its view lists them all.
pub(crate) const MAX_CORRECTIONS_PER_JOB: i64 = 100;

/// Appended to the parent's name to name a correction.
const NAME_SUFFIX: &str = " (correction)";

/// A failed row of the parent, by its line, with the cells to change (by the file's own
/// header names); cells not given keep the value the row had.
#[derive(Debug, Clone)]
pub(crate) struct CorrectedRow {
    /// The line of the failed row in the parent's upload (as its error data says).
    pub line: i64,
    /// New values by header name.
    pub values: BTreeMap<String, String>,
}

/// Why a correction was refused; nothing was kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CorrectionError {
    /// The parent is still queued or running: its failed rows are not known yet.
    #[error("job {id} is still {state}: its failed rows can be corrected once it has ended")]
    NotEnded {
        /// The parent.
        id: Uuid,
        /// Its state.
        state: &'static str,
    },
    /// The parent has [`MAX_CORRECTIONS_PER_JOB`] corrections already.
    #[error(
        "job {id} has {MAX_CORRECTIONS_PER_JOB} corrections already, the most a job may have; \
         correct the failed rows of its latest correction instead"
    )]
    TooManyCorrections {
        /// The parent.
        id: Uuid,
    },
    /// No rows were sent.
    #[error("send at least one corrected row in \"rows\"")]
    NoRows,
    /// More than [`MAX_ROWS`] rows were sent.
    #[error("send at most {MAX_ROWS} corrected rows per request, not {count}")]
    TooManyRows {
        /// How many were sent.
        count: usize,
    },
    /// A line came twice.
    #[error("line {line} is given twice; send each failed row once")]
    DuplicateLine {
        /// The line.
        line: i64,
    },
    /// A line is not a stored failed row of the parent.
    #[error(
        "line {line} is not a failed row of job {job} (its failed rows are listed by \
         GET /api/v1/jobs/{job}/errors)"
    )]
    NotAFailedRow {
        /// The line.
        line: i64,
        /// The parent.
        job: Uuid,
    },
    /// A value is under a name that is not a column of the parent's file.
    #[error("line {line}: {column:?} is not a column of the file; its columns are {columns}")]
    UnknownColumn {
        /// The line.
        line: i64,
        /// The name sent.
        column: String,
        /// The file's columns, quoted and joined.
        columns: String,
    },
    /// A value is longer than a field may be.
    #[error("line {line}, column {column:?}: a value may be at most {MAX_FIELD_BYTES} bytes")]
    ValueTooLong {
        /// The line.
        line: i64,
        /// The column.
        column: String,
    },
    /// A value holds a NUL character, which no text file of ours may hold.
    #[error("line {line}, column {column:?}: a value must not contain a NUL character")]
    Nul {
        /// The line.
        line: i64,
        /// The column.
        column: String,
    },
    /// The tenant has `tenant_max_queued` jobs queued; nothing was recorded.
    #[error("the tenant's queue is full ({} jobs)", .0.limit)]
    QueueFull(QueueFull),
    /// The file store failed (or is full).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Postgres failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<SubmitError> for CorrectionError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::QueueFull(full) => Self::QueueFull(full),
            SubmitError::Database(e) => Self::Database(e),
        }
    }
}

/// Where a correction goes and what it may cost.
pub(crate) struct Services<'a> {
    /// Postgres.
    pub db: &'a PgPool,
    /// The job queue.
    pub queue: &'a JobQueue,
    /// The file store that keeps the correction's file as its upload.
    pub store: &'a Store,
    /// `tenant_max_queued`.
    pub max_queued: u32,
    /// The largest correction file kept: its rows sit on their parent's lines, so it can
    /// be as long as the parent's upload.
    pub max_file_bytes: u64,
}

/// Checks `rows` against `parent` and submits the correction, made by `user_id`; returns
/// the new job (queued). On any refusal nothing is kept.
pub(crate) async fn submit(
    services: &Services<'_>,
    parent: &JobRecord,
    user_id: Uuid,
    rows: Vec<CorrectedRow>,
) -> Result<JobRecord, CorrectionError> {
    let state = parent.state();
    if !state.is_terminal() {
        return Err(CorrectionError::NotEnded {
            id: parent.id,
            state: state.as_str(),
        });
    }
    check_rows(&rows)?;
    if db::corrections::count(services.db, parent.id).await? >= MAX_CORRECTIONS_PER_JOB {
        return Err(CorrectionError::TooManyCorrections { id: parent.id });
    }
    let lines: Vec<i64> = rows.iter().map(|row| row.line).collect();
    let stored = db::job_errors::at_lines(services.db, parent.id, &lines).await?;
    let found: HashSet<i64> = stored.iter().map(|row| row.line).collect();
    if let Some(missing) = rows.iter().find(|row| !found.contains(&row.line)) {
        return Err(CorrectionError::NotAFailedRow {
            line: missing.line,
            job: parent.id,
        });
    }
    // Every stored row of a job has the file's header, in its order.
    let header: Vec<String> = stored[0]
        .row_values
        .0
        .iter()
        .map(|cell| cell.0.clone())
        .collect();
    check_columns(&header, &rows)?;
    let originals: Vec<(i64, Vec<Option<String>>)> = stored
        .into_iter()
        .map(|row| {
            let cells = row.row_values.0.into_iter().map(|cell| cell.1).collect();
            (row.line, cells)
        })
        .collect();
    let file = correction_file(&header, &originals, &rows);

    let id = Uuid::new_v4();
    let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(file))]);
    let upload = services
        .store
        .save_upload(id, body, services.max_file_bytes)
        .await?;
    let job = NewJob {
        id,
        tenant_id: parent.tenant_id,
        user_id,
        kind: parent.kind(),
        file_name: format!("correction of {}", parent.file_name),
        name: parent
            .name
            .as_deref()
            .map(|name| suffixed_name(name, NAME_SUFFIX)),
        file_size: upload.size as i64,
        column_mapping: parent.column_mapping.as_ref().map(|m| m.0.clone()),
        // The correction is a CSV whatever the parent was.
        sheet: None,
        send_error_email: parent.send_error_email,
        dry_run: parent.dry_run,
        idempotency_key: None,
        file_sha256: None,
        parent_job_id: Some(parent.id),
        reverts_job_id: None,
    };
    match submit::submit(services.db, services.queue, &job, services.max_queued).await {
        Ok(record) => Ok(record),
        Err(e) => {
            services.store.remove_upload(id).await;
            Err(e.into())
        }
    }
}

/// The bounds that need no database: a count of rows, each line once, values a field
/// can hold.
fn check_rows(rows: &[CorrectedRow]) -> Result<(), CorrectionError> {
    if rows.is_empty() {
        return Err(CorrectionError::NoRows);
    }
    if rows.len() > MAX_ROWS {
        return Err(CorrectionError::TooManyRows { count: rows.len() });
    }
    let mut seen = HashSet::with_capacity(rows.len());
    for row in rows {
        if !seen.insert(row.line) {
            return Err(CorrectionError::DuplicateLine { line: row.line });
        }
        for (column, value) in &row.values {
            if value.len() > MAX_FIELD_BYTES {
                return Err(CorrectionError::ValueTooLong {
                    line: row.line,
                    column: column.clone(),
                });
            }
            if value.contains('\0') {
                return Err(CorrectionError::Nul {
                    line: row.line,
                    column: column.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Every value must be under a column of the parent's file.
fn check_columns(header: &[String], rows: &[CorrectedRow]) -> Result<(), CorrectionError> {
    let known: HashSet<&str> = header.iter().map(String::as_str).collect();
    for row in rows {
        if let Some(column) = row.values.keys().find(|c| !known.contains(c.as_str())) {
            let columns = header
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CorrectionError::UnknownColumn {
                line: row.line,
                column: column.clone(),
                columns,
            });
        }
    }
    Ok(())
}

/// `name` with `suffix`, cut so that the whole stays a valid job name: the name of a job
/// made from another one (a correction, a revert).
pub(crate) fn suffixed_name(name: &str, suffix: &str) -> String {
    let room = JobName::MAX_CHARS - suffix.chars().count();
    let kept: String = name.chars().take(room).collect();
    format!("{}{suffix}", kept.trim_end())
}

/// The correction's upload: a UTF-8 CSV with the parent's header on line 1 and each row
/// on the line it had in the parent's upload — blank lines fill the gaps — with the
/// corrected values over the original ones (a cell the row lacked is empty; cells beyond
/// the header are dropped). A row written on more lines than the gap to the next one
/// (a corrected value with line breaks) pushes that next row down.
fn correction_file(
    header: &[String],
    originals: &[(i64, Vec<Option<String>>)],
    rows: &[CorrectedRow],
) -> Vec<u8> {
    let mut rows: Vec<&CorrectedRow> = rows.iter().collect();
    rows.sort_by_key(|row| row.line);
    let mut file = record(header.iter().map(String::as_str));
    let mut next_line = 1 + newlines(&file);
    for row in rows {
        let Some((_, cells)) = originals.iter().find(|(line, _)| *line == row.line) else {
            continue;
        };
        while next_line < row.line {
            file.push(b'\n');
            next_line += 1;
        }
        let values = header.iter().zip(cells).map(|(column, original)| {
            row.values
                .get(column)
                .map(String::as_str)
                .or(original.as_deref())
                .unwrap_or("")
        });
        let written = record(values);
        next_line += newlines(&written);
        file.extend_from_slice(&written);
    }
    file
}

/// One CSV record ending in `\n`, quoted where needed.
fn record<'a>(fields: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let fields: Vec<&str> = fields.into_iter().collect();
    // Writing to memory cannot fail.
    writer.write_record(&fields).expect("a record in memory");
    writer.into_inner().expect("a record in memory")
}

fn newlines(bytes: &[u8]) -> i64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: i64, values: &[(&str, &str)]) -> CorrectedRow {
        CorrectedRow {
            line,
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn header() -> Vec<String> {
        vec!["Opportunity ID".into(), "Amount".into()]
    }

    #[test]
    fn rows_keep_their_lines_and_their_other_values() {
        let originals = vec![
            (3, vec![Some("O-3".into()), Some("abc".into())]),
            (6, vec![Some("O-6".into()), None]),
        ];
        let rows = [row(6, &[("Amount", "5")]), row(3, &[("Amount", "1,200")])];
        let file = correction_file(&header(), &originals, &rows);
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "Opportunity ID,Amount\n\nO-3,\"1,200\"\n\n\nO-6,5\n"
        );
    }

    #[test]
    fn a_value_with_line_breaks_pushes_the_next_row_down() {
        let originals = vec![
            (2, vec![Some("O-2".into()), Some("x".into())]),
            (3, vec![Some("O-3".into()), Some("y".into())]),
        ];
        let rows = [row(2, &[("Amount", "1\n2")]), row(3, &[])];
        let file = correction_file(&header(), &originals, &rows);
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "Opportunity ID,Amount\nO-2,\"1\n2\"\nO-3,y\n"
        );
    }

    #[test]
    fn rows_are_bounded_and_checked_before_the_database() {
        assert!(matches!(check_rows(&[]), Err(CorrectionError::NoRows)));
        let many: Vec<_> = (0..=MAX_ROWS as i64).map(|l| row(l, &[])).collect();
        assert!(matches!(
            check_rows(&many),
            Err(CorrectionError::TooManyRows { .. })
        ));
        assert!(matches!(
            check_rows(&[row(2, &[]), row(2, &[])]),
            Err(CorrectionError::DuplicateLine { line: 2 })
        ));
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        assert!(matches!(
            check_rows(&[row(2, &[("Amount", &long)])]),
            Err(CorrectionError::ValueTooLong { .. })
        ));
        assert!(matches!(
            check_rows(&[row(2, &[("Amount", "a\0b")])]),
            Err(CorrectionError::Nul { .. })
        ));
        let error = check_columns(&header(), &[row(2, &[("Amonut", "1")])]).unwrap_err();
        assert!(error.to_string().contains("\"Amonut\""), "{error}");
    }

    #[test]
    fn a_correction_is_named_after_its_parent_within_the_name_limit() {
        assert_eq!(suffixed_name("Q3", NAME_SUFFIX), "Q3 (correction)");
        let long = suffixed_name(&"n".repeat(JobName::MAX_CHARS), NAME_SUFFIX);
        assert_eq!(long.chars().count(), JobName::MAX_CHARS);
        assert!(JobName::parse(&long).is_ok());
    }
}
