//! Drives one import. A blocking thread parses and validates the CSV, splits each chunk's
//! rows by key into one part per writer and encodes each part's upsert; meanwhile the async
//! side writes the previous chunk, its parts in parallel on separate connections. Progress
//! is recorded (and a cancel noticed) between chunks.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use csv::StringRecord;
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    csv_source::{self, CsvFormat},
    error_file::{ErrorFileWriter, RejectedRow},
    header::{self, ColumnMap},
    kind::{ChunkResult, ImportKind, PreparedChunk},
};
use crate::{
    db::jobs::ImportCounts,
    domain::{ErrorSummaryEntry, ErrorTally, Problem, ProblemCode},
};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Whose data it is.
    pub tenant_id: Uuid,
    /// The uploaded CSV.
    pub path: PathBuf,
    /// Where the error CSV goes when rows fail.
    pub error_path: PathBuf,
    /// Optional file header → supported field mapping.
    pub mapping: Option<HashMap<String, String>>,
    /// Rows per chunk; each chunk is committed before progress is recorded.
    pub chunk_rows: usize,
    /// Connections that write a chunk's partitions in parallel (rows are split by their
    /// key, so one key always goes through the same writer, in file order).
    pub writers: usize,
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Rows read, imported and rejected.
    pub counts: ImportCounts,
    /// True when a cancel request stopped it at a chunk boundary.
    pub cancelled: bool,
    /// True when the run lost its hold on the job (another run has it now) and stopped
    /// at a chunk boundary; its counts must not be recorded.
    pub lost_lease: bool,
    /// True when an error CSV was written.
    pub error_file: bool,
}

/// Why an import could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file itself cannot be imported (encoding, header); retrying will not help.
    #[error("{0}")]
    BadFile(String),
    /// Postgres failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Reading the upload or writing the error file failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl ImportError {
    /// True when running the import again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::BadFile(_) => false,
            Self::Database(e) => is_transient_db_error(e),
            Self::Io(_) => true,
        }
    }
}

/// Connection trouble, deadlocks, serialization failures, shutdowns and resource limits
/// pass; anything else is a problem with the data or the statement.
pub fn is_transient_db_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["08", "40", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// What the caller answers after a committed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with the next chunk.
    Continue,
    /// A cancel was requested: stop here, keeping what was committed.
    Cancel,
    /// The run no longer owns the job: stop here and report nothing.
    LostLease,
}

/// Told after each committed chunk how many rows of the file are done; decides whether
/// the import goes on. Keeps the engine free of any knowledge of the jobs table.
pub trait ProgressSink: Send + Sync {
    /// `rows_processed` rows, ending about `bytes_processed` bytes into the file, have
    /// been read and their chunk committed.
    fn chunk_committed(
        &self,
        rows_processed: i64,
        bytes_processed: i64,
    ) -> futures::future::BoxFuture<'_, Result<Verdict, ImportError>>;

    /// Told, before `chunk_committed`, about a chunk that had failed rows (the error CSV
    /// has them already). The default keeps nothing.
    fn rows_rejected<'a>(
        &'a self,
        failed: FailedRows<'a>,
    ) -> futures::future::BoxFuture<'a, Result<(), ImportError>> {
        let _ = failed;
        Box::pin(async { Ok(()) })
    }
}

/// The failed rows of one committed chunk, for a [`ProgressSink`] that keeps them.
#[derive(Debug, Clone, Copy)]
pub struct FailedRows<'a> {
    /// The upload's header cells (the error CSV's columns before `Line` and `Error`).
    pub header: &'a [String],
    /// The chunk's failed rows, in line order.
    pub rows: &'a [RejectedRow],
    /// Failed rows per code and column over the whole run so far (exact).
    pub summary: &'a [ErrorSummaryEntry],
}

/// Where progress goes after each chunk.
pub enum Progress<'a> {
    /// Nowhere (direct imports from the command line).
    None,
    /// To a sink that may stop the import.
    Report(&'a dyn ProgressSink),
}

/// A batch of parsed rows handed from the parser thread to the writer.
struct Chunk<R> {
    /// Valid rows, split by key into one part per writer.
    parts: Vec<Part<R>>,
    rejected: Vec<RejectedRow>,
    rows_read: u64,
    /// How far into the file the reader was when the chunk was cut.
    bytes_read: u64,
}

/// The rows of a chunk that one writer upserts.
struct Part<R> {
    rows: Vec<R>,
    /// The raw record and line of each entry of `rows`, for the error file.
    sources: Vec<(StringRecord, u64)>,
    /// The upsert of `rows`, encoded by the parser thread when the kind allows it.
    prepared: Option<PreparedChunk>,
}

impl<R> Chunk<R> {
    fn new(writers: usize, capacity: usize) -> Self {
        let parts = (0..writers)
            .map(|_| Part {
                rows: Vec::with_capacity(capacity),
                sources: Vec::with_capacity(capacity),
                prepared: None,
            })
            .collect();
        Self {
            parts,
            rejected: Vec::new(),
            rows_read: 0,
            bytes_read: 0,
        }
    }
}

/// Imports one file of kind `K` for a tenant.
pub async fn run_import<K: ImportKind>(
    pool: &PgPool,
    request: ImportRequest,
    progress: Progress<'_>,
) -> Result<ImportOutcome, ImportError> {
    let chunk_rows = request.chunk_rows.max(1);
    let (reader, bytes_read, format, columns, header_names) = {
        let request = request.clone();
        tokio::task::spawn_blocking(move || open_and_resolve::<K>(&request))
            .await
            .map_err(|e| ImportError::Io(std::io::Error::other(e)))??
    };
    let columns = Arc::new(columns);

    // Capacity 1: the parser runs at most one chunk ahead, which keeps memory flat.
    let (tx, mut rx) = mpsc::channel::<Result<Chunk<K::Row>, ImportError>>(1);
    let parser = {
        let columns = columns.clone();
        let tenant_id = request.tenant_id;
        let writers = request.writers.max(1);
        tokio::task::spawn_blocking(move || {
            parse_chunks::<K>(
                (reader, bytes_read),
                &format,
                &columns,
                tenant_id,
                chunk_rows,
                writers,
                &tx,
            )
        })
    };

    let mut errors = ErrorFileWriter::new(&request.error_path, header_names.clone());
    let mut tally = ErrorTally::default();
    let mut counts = ImportCounts::default();
    let mut cancelled = false;
    let mut lost_lease = false;
    let result: Result<(), ImportError> = async {
        while let Some(chunk) = rx.recv().await {
            let mut chunk = chunk?;
            counts.total_original_rows += chunk.rows_read as i64;
            let writes = chunk
                .parts
                .drain(..)
                .filter(|part| !part.rows.is_empty())
                .map(|mut part| {
                    let columns = &columns;
                    async move {
                        let prepared = part.prepared.take();
                        let refused = write_chunk::<K>(
                            pool,
                            request.tenant_id,
                            columns,
                            &part.rows,
                            prepared,
                        )
                        .await;
                        (part, refused)
                    }
                });
            for (mut part, refused) in futures::future::join_all(writes).await {
                let refused = refused?;
                counts.total_imported_rows += (part.rows.len() - refused.len()) as i64;
                for (index, problem) in refused {
                    let (record, line) = std::mem::take(&mut part.sources[index]);
                    chunk.rejected.push(RejectedRow {
                        record,
                        line,
                        problems: vec![problem],
                    });
                }
            }
            chunk.rejected.sort_by_key(|row| row.line);
            for row in &chunk.rejected {
                errors.write(row)?;
                tally.add(&row.problems);
            }
            counts.total_error_rows += chunk.rejected.len() as i64;
            match progress {
                Progress::Report(sink) if !chunk.rejected.is_empty() => {
                    let summary = tally.summary();
                    let failed = FailedRows {
                        header: &header_names,
                        rows: &chunk.rejected,
                        summary: &summary,
                    };
                    sink.rows_rejected(failed).await?;
                }
                _ => {}
            }
            if let Progress::Report(sink) = progress {
                let bytes = chunk.bytes_read as i64;
                match sink
                    .chunk_committed(counts.total_original_rows, bytes)
                    .await?
                {
                    Verdict::Continue => {}
                    Verdict::Cancel => {
                        cancelled = true;
                        break;
                    }
                    Verdict::LostLease => {
                        lost_lease = true;
                        break;
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    // Dropping the receiver stops the parser at its next send.
    drop(rx);
    let parsed = parser
        .await
        .map_err(|e| ImportError::Io(std::io::Error::other(e)))?;
    result?;
    if !cancelled && !lost_lease {
        parsed?;
    }
    debug_assert_eq!(
        counts.total_imported_rows + counts.total_error_rows,
        counts.total_original_rows
    );
    let error_file = errors.finish()?;
    Ok(ImportOutcome {
        counts,
        cancelled,
        lost_lease,
        error_file,
    })
}

type OpenedFile = (
    csv::Reader<Box<dyn std::io::Read + Send>>,
    csv_source::BytesRead,
    CsvFormat,
    ColumnMap,
    Vec<String>,
);

/// Sniffs the encoding and delimiter, reads the header line and maps its columns.
fn open_and_resolve<K: ImportKind>(request: &ImportRequest) -> Result<OpenedFile, ImportError> {
    let bad_file = |e: &dyn std::fmt::Display| ImportError::BadFile(e.to_string());
    let format = csv_source::sniff(&request.path).map_err(|e| bad_file(&e))?;
    let (mut reader, bytes_read) =
        csv_source::open_counted(&request.path, &format).map_err(|e| bad_file(&e))?;
    let mut header = StringRecord::new();
    loop {
        match csv_source::read_record(&mut reader, &mut header) {
            Ok(true) if csv_source::is_blank(&header) => continue,
            Ok(true) => break,
            Ok(false) => return Err(ImportError::BadFile("the file has no header line".into())),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                return Err(ImportError::BadFile(
                    "the header line contains characters that cannot be read as UTF-8; save \
                     the file as UTF-8 CSV"
                        .into(),
                ));
            }
            Err(e) => return Err(csv_error(e)),
        }
    }
    let columns = header::resolve(&header, K::FIELDS, request.mapping.as_ref())
        .map_err(|e| ImportError::BadFile(format!("the header line is not usable: {e}")))?;
    let names = columns.header_names().map(str::to_owned).collect();
    Ok((reader, bytes_read, format, columns, names))
}

/// A CSV error that is not about one row: the file cannot be read on.
fn csv_error(error: csv::Error) -> ImportError {
    match error.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::BadFile(format!("the file cannot be read as CSV: {other:?}")),
    }
}

/// The parser thread: reads records, validates them and sends chunks.
fn parse_chunks<K: ImportKind>(
    (mut reader, bytes_read): (
        csv::Reader<Box<dyn std::io::Read + Send>>,
        csv_source::BytesRead,
    ),
    format: &CsvFormat,
    columns: &ColumnMap,
    tenant_id: Uuid,
    chunk_rows: usize,
    writers: usize,
    tx: &mpsc::Sender<Result<Chunk<K::Row>, ImportError>>,
) -> Result<(), ImportError> {
    let part_capacity = chunk_rows.div_ceil(writers);
    // Encoding here overlaps with Postgres executing the previous chunk.
    let send = |mut chunk: Chunk<K::Row>| {
        chunk.bytes_read = bytes_read.get();
        for part in &mut chunk.parts {
            part.prepared = match K::prepare(tenant_id, columns, &part.rows) {
                Some(Ok(prepared)) => Some(prepared),
                Some(Err(error)) => {
                    tracing::warn!(%error, "could not encode a chunk ahead; the writer will");
                    None
                }
                None => None,
            };
        }
        // False once the writer has stopped (cancel or failure).
        tx.blocking_send(Ok(chunk)).is_ok()
    };
    let mut chunk = Chunk::new(writers, part_capacity);
    let mut record = StringRecord::new();
    loop {
        match csv_source::read_record(&mut reader, &mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    // Only reachable for mixed encodings; report the row, keep going.
                    chunk.rows_read += 1;
                    chunk.rejected.push(RejectedRow {
                        record: StringRecord::new(),
                        line,
                        problems: vec![Problem::of_row(
                            ProblemCode::UnreadableText,
                            "the row contains characters that cannot be read",
                        )],
                    });
                    continue;
                }
                // The writer gets its own copy; a read failure stays an I/O error (worth a
                // retry), a malformed file stays a bad file.
                let err = csv_error(e);
                let copy = match &err {
                    ImportError::Io(io) => {
                        ImportError::Io(std::io::Error::new(io.kind(), io.to_string()))
                    }
                    other => ImportError::BadFile(other.to_string()),
                };
                let _ = tx.blocking_send(Err(copy));
                return Err(err);
            }
        }
        if csv_source::is_blank(&record) {
            continue;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        chunk.rows_read += 1;
        let parsed = columns
            .check_width(&record)
            .map_err(|problem| vec![problem])
            .and_then(|()| K::parse(columns, &record, format));
        match parsed {
            Ok(row) => {
                let part = &mut chunk.parts[(K::partition_key(&row) % writers as u64) as usize];
                part.rows.push(row);
                part.sources.push((record.clone(), line));
            }
            Err(problems) => chunk.rejected.push(RejectedRow {
                record: record.clone(),
                line,
                problems,
            }),
        }
        if chunk.rows_read as usize >= chunk_rows {
            let full = std::mem::replace(&mut chunk, Chunk::new(writers, part_capacity));
            if !send(full) {
                return Ok(()); // The writer stopped (cancel or failure).
            }
        }
    }
    if chunk.rows_read > 0 {
        send(chunk);
    }
    Ok(())
}

/// Writes a chunk (sending its prepared upsert when there is one); when Postgres refuses
/// it for a reason tied to the data, retries row by row so that one bad row never stops
/// the good ones. Returns the refused rows.
async fn write_chunk<K: ImportKind>(
    pool: &PgPool,
    tenant_id: Uuid,
    columns: &ColumnMap,
    rows: &[K::Row],
    prepared: Option<PreparedChunk>,
) -> Result<Vec<(usize, Problem)>, ImportError> {
    let written = match prepared {
        Some(p) => sqlx::query_with(&p.sql, p.args)
            .execute(pool)
            .await
            .map(|_| ChunkResult::default()),
        None => K::write_chunk(pool, tenant_id, columns, rows).await,
    };
    match written {
        Ok(result) => Ok(result.rejected),
        Err(e) if is_transient_db_error(&e) => Err(e.into()),
        // One row refused for its data (say a key too long to index) is an error row.
        Err(e) if rows.len() == 1 => Ok(vec![(0, refused_by_database(&e))]),
        Err(e) => {
            tracing::warn!(error = %e, rows = rows.len(), "chunk refused; writing its rows one by one");
            let mut refused = Vec::new();
            for (index, row) in rows.iter().enumerate() {
                match K::write_chunk(pool, tenant_id, columns, std::slice::from_ref(row)).await {
                    Ok(result) => {
                        refused.extend(result.rejected.into_iter().map(|(_, m)| (index, m)))
                    }
                    Err(e) if is_transient_db_error(&e) => return Err(e.into()),
                    Err(e) => refused.push((index, refused_by_database(&e))),
                }
            }
            Ok(refused)
        }
    }
}

/// The problem of a row Postgres refused for its data.
fn refused_by_database(error: &sqlx::Error) -> Problem {
    Problem::of_row(
        ProblemCode::RejectedByDatabase,
        format!("the row could not be saved: {}", db_message(error)),
    )
}

fn db_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}
