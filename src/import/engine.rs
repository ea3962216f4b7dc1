//! Drives one import. A blocking thread parses and validates the CSV, splits each chunk's
//! rows by key into one part per writer and encodes each part's upsert. Each writer is a
//! lane with its own connection and queue of parts, so the lanes keep Postgres busy on
//! every core: a lane that is done with its part of a chunk starts on its part of the next
//! one while the others finish. Chunks are recorded in file order once all their parts are
//! written: counts, error file, progress, and the caller's verdict (cancel, lost lease),
//! which therefore takes effect after at most one more chunk, a whole one, that is counted
//! too. A dry run writes the same way through one lane inside a transaction that is rolled
//! back at the end.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use csv::StringRecord;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    csv_source::{self, CsvFormat, SourceError},
    error_file::{ErrorFileWriter, RejectedRow},
    header::{self, ColumnMap},
    kind::{ImportKind, PreparedChunk, RowOutcomes},
    limits,
    records::{OpenError, ReadError, Records},
    sources::SourceRecords,
    workbook::{SheetChoice, WorkbookError},
};
use crate::domain::{ErrorSummaryEntry, ErrorTally, ImportCounts, Problem, ProblemCode};

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
    /// The sheet of a workbook upload (the first visible one when `None`); ignored for a
    /// CSV.
    pub sheet: Option<SheetChoice>,
    /// Rows per chunk; each chunk is committed before progress is recorded.
    pub chunk_rows: usize,
    /// Connections that write a chunk's partitions in parallel (rows are split by their
    /// key, so one key always goes through the same writer, in file order).
    pub writers: usize,
    /// Check and count only: every chunk is written inside one transaction that is
    /// rolled back at the end, so the counts are those of the real import (a key
    /// repeated across chunks included) and nothing is stored. Uses one writer.
    pub dry_run: bool,
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
    /// The import panicked (a bug, or a file that trips one in a dependency): running it
    /// again would panic again.
    #[error("the import stopped on an internal error ({0}); the file was not imported further")]
    Panicked(String),
}

impl ImportError {
    /// A panic's payload as text, for [`ImportError::Panicked`].
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Self::Panicked(message)
    }
}

impl From<tokio::task::JoinError> for ImportError {
    fn from(error: tokio::task::JoinError) -> Self {
        match error.try_into_panic() {
            Ok(payload) => Self::from_panic(payload.as_ref()),
            Err(error) => Self::Io(std::io::Error::other(error)),
        }
    }
}

impl ImportError {
    /// True when running the import again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::BadFile(_) | Self::Panicked(_) => false,
            Self::Database(e) => crate::db::is_transient_error(e),
            Self::Io(_) => true,
        }
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
    /// What its records cost in memory so far ([`limits::record_cost`]).
    bytes_held: usize,
}

/// The rows of a chunk that one writer upserts.
struct Part<R> {
    rows: Vec<R>,
    /// The raw record and line of each entry of `rows`, for the error file.
    sources: SourceRecords,
    /// The upsert of `rows`, encoded by the parser thread when the kind allows it.
    prepared: Option<PreparedChunk>,
}

impl<R> Chunk<R> {
    fn new(writers: usize, capacity: usize, cells: usize) -> Self {
        let parts = (0..writers)
            .map(|_| Part {
                rows: Vec::with_capacity(capacity),
                sources: SourceRecords::with_capacity(capacity, cells),
                prepared: None,
            })
            .collect();
        Self {
            parts,
            rejected: Vec::new(),
            rows_read: 0,
            bytes_read: 0,
            bytes_held: 0,
        }
    }
}

/// Imports one file of kind `K` for a tenant.
pub async fn run_import<K: ImportKind>(
    pool: &PgPool,
    request: ImportRequest,
    progress: Progress<'_>,
) -> Result<ImportOutcome, ImportError> {
    let (records, format, columns, header_names) = {
        let request = request.clone();
        tokio::task::spawn_blocking(move || open_and_resolve::<K>(&request)).await??
    };
    // A workbook's shared strings stay in memory for the whole import (calamine loads
    // them whole): its chunks are half the size, which gives that memory back (measured
    // on a 250,000-row .xlsx: peak 68 MB with 5000-row chunks, 51 MB with 2500, same time).
    let chunk_rows = match records {
        Records::Sheet { .. } => request.chunk_rows / 2,
        Records::Csv { .. } => request.chunk_rows,
    }
    .max(1);
    let columns = Arc::new(columns);
    // A dry run writes through one transaction, so through one connection.
    let writers = if request.dry_run {
        1
    } else {
        request.writers.max(1)
    };
    let mut dry_run = match request.dry_run {
        true => Some(pool.begin().await?),
        false => None,
    };

    // Capacity 1: the parser runs at most one chunk ahead, which keeps memory flat.
    let (tx, rx) = mpsc::channel::<Result<Chunk<K::Row>, ImportError>>(1);
    let parser = {
        let columns = columns.clone();
        let tenant_id = request.tenant_id;
        tokio::task::spawn_blocking(move || {
            parse_chunks::<K>(
                records, &format, &columns, tenant_id, chunk_rows, writers, &tx,
            )
        })
    };

    // One lane per writer, each with its own queue of parts: a lane goes on with its part
    // of the next chunk while the other lanes finish theirs and while the chunk before is
    // recorded. A key always takes the same lane, so its rows are still applied in order.
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let mut lane_inputs = Vec::with_capacity(writers);
    let mut lanes = Vec::with_capacity(writers);
    let mut dry_run_conn = dry_run.as_deref_mut();
    for _ in 0..writers {
        let (input, parts) = mpsc::channel(CHUNKS_IN_FLIGHT);
        lane_inputs.push(input);
        let conn = match dry_run_conn.take() {
            Some(conn) => LaneConn::Transaction(conn),
            None => LaneConn::Pool(pool),
        };
        let lane = Lane {
            conn,
            tenant_id: request.tenant_id,
            columns: &columns,
        };
        lanes.push(lane.run::<K>(parts, done_tx.clone()));
    }
    drop(done_tx);
    let mut record = Recorder::new(&request.error_path, header_names, progress);
    let (result, _) = futures::join!(
        record.coordinate::<K>(rx, lane_inputs, done_rx),
        futures::future::join_all(lanes)
    );
    // The receiver is gone by now, which stops the parser at its next send.
    let parsed = parser.await?;
    result?;
    let Recorder {
        errors,
        counts,
        cancelled,
        lost_lease,
        ..
    } = record;
    if !cancelled && !lost_lease {
        parsed?;
    }
    if let Some(tx) = dry_run {
        tx.rollback().await?;
    }
    debug_assert_eq!(
        counts.total_imported_rows + counts.total_error_rows,
        counts.total_original_rows
    );
    debug_assert_eq!(
        counts.created_rows + counts.updated_rows + counts.unchanged_rows,
        counts.total_imported_rows
    );
    let error_file = errors.finish()?;
    Ok(ImportOutcome {
        counts,
        cancelled,
        lost_lease,
        error_file,
    })
}

/// Chunks out with the writers at most. With two, the writers write one chunk while the
/// one before is recorded, and memory stays flat (a few chunks: the one being parsed, one
/// waiting, these).
const CHUNKS_IN_FLIGHT: usize = 2;

/// What writing one part gave: its refused rows (by index) and what became of the others.
type PartResult = Result<(Vec<(usize, Problem)>, RowOutcomes), ImportError>;

/// A part for a lane: which chunk it belongs to, and its rows.
struct LaneJob<R> {
    seq: u64,
    part: Part<R>,
}

/// A part a lane has written (or failed to).
struct LaneDone<R> {
    seq: u64,
    part: Part<R>,
    result: PartResult,
}

/// Where a lane writes: a pooled connection per part, or the dry run's transaction.
enum LaneConn<'a> {
    Pool(&'a PgPool),
    Transaction(&'a mut PgConnection),
}

/// One writer: writes the parts it is given, in the order given, and hands them back.
struct Lane<'a> {
    conn: LaneConn<'a>,
    tenant_id: Uuid,
    columns: &'a ColumnMap,
}

impl Lane<'_> {
    async fn run<K: ImportKind>(
        mut self,
        mut parts: mpsc::Receiver<LaneJob<K::Row>>,
        done: mpsc::UnboundedSender<LaneDone<K::Row>>,
    ) {
        while let Some(LaneJob { seq, mut part }) = parts.recv().await {
            let prepared = part.prepared.take();
            let (tenant_id, columns) = (self.tenant_id, self.columns);
            let result = match &mut self.conn {
                LaneConn::Pool(pool) => match pool.acquire().await {
                    Ok(mut conn) => {
                        let written = write_chunk::<K>(
                            &mut conn, false, tenant_id, columns, &part.rows, prepared,
                        )
                        .await;
                        // A connection keeps the buffers of its largest message (a part's
                        // statement is a megabyte or more): give them back before it goes
                        // idle in the pool, or every pooled connection holds its own.
                        conn.shrink_buffers();
                        written
                    }
                    Err(e) => Err(e.into()),
                },
                LaneConn::Transaction(conn) => {
                    write_chunk::<K>(conn, true, tenant_id, columns, &part.rows, prepared).await
                }
            };
            if done.send(LaneDone { seq, part, result }).is_err() {
                return; // The coordinator stopped (a failure).
            }
        }
    }
}

/// A chunk whose parts are out with the lanes.
struct InFlight<R> {
    seq: u64,
    rejected: Vec<RejectedRow>,
    rows_read: u64,
    bytes_read: u64,
    /// Parts not back yet.
    outstanding: usize,
    written: Vec<(Part<R>, PartResult)>,
}

/// Hands chunks to the lanes, and records each chunk, in file order, once all its parts
/// are back: counts, error file, progress and the caller's verdict.
struct Recorder<'a> {
    errors: ErrorFileWriter,
    header_names: Vec<String>,
    tally: ErrorTally,
    counts: ImportCounts,
    progress: Progress<'a>,
    cancelled: bool,
    lost_lease: bool,
}

impl<'a> Recorder<'a> {
    fn new(
        error_path: &std::path::Path,
        header_names: Vec<String>,
        progress: Progress<'a>,
    ) -> Self {
        Self {
            errors: ErrorFileWriter::new(error_path, header_names.clone()),
            header_names,
            tally: ErrorTally::default(),
            counts: ImportCounts::default(),
            progress,
            cancelled: false,
            lost_lease: false,
        }
    }

    /// Runs until the file is done, a verdict stops the import (the chunks already out
    /// with the lanes are then finished and recorded: what is written is counted) or
    /// something fails. Returning drops the lanes' inputs, which ends them.
    async fn coordinate<K: ImportKind>(
        &mut self,
        mut chunks: mpsc::Receiver<Result<Chunk<K::Row>, ImportError>>,
        lanes: Vec<mpsc::Sender<LaneJob<K::Row>>>,
        mut done: mpsc::UnboundedReceiver<LaneDone<K::Row>>,
    ) -> Result<(), ImportError> {
        let mut in_flight: std::collections::VecDeque<InFlight<K::Row>> = Default::default();
        let mut next_seq = 0u64;
        let mut reading = true;
        loop {
            while in_flight
                .front()
                .is_some_and(|chunk| chunk.outstanding == 0)
            {
                let chunk = in_flight.pop_front().expect("a chunk");
                let verdict = self.record::<K>(chunk).await?;
                if verdict != Verdict::Continue {
                    // Stop taking chunks; those out already are finished and recorded.
                    reading = false;
                }
            }
            if !reading && in_flight.is_empty() {
                return Ok(());
            }
            tokio::select! {
                Some(LaneDone { seq, part, result }) = done.recv(), if !in_flight.is_empty() => {
                    let front = in_flight.front().map_or(seq, |chunk| chunk.seq);
                    let chunk = &mut in_flight[(seq - front) as usize];
                    chunk.outstanding -= 1;
                    chunk.written.push((part, result));
                }
                chunk = chunks.recv(), if reading && in_flight.len() < CHUNKS_IN_FLIGHT => {
                    let Some(chunk) = chunk else {
                        reading = false;
                        continue;
                    };
                    let mut chunk = chunk?;
                    let seq = next_seq;
                    next_seq += 1;
                    let mut outstanding = 0;
                    for (lane, part) in lanes.iter().zip(chunk.parts.drain(..)) {
                        if part.rows.is_empty() {
                            continue;
                        }
                        // Never waits: a lane's queue holds as many parts as chunks in flight.
                        if lane.send(LaneJob { seq, part }).await.is_err() {
                            return Err(ImportError::Io(std::io::Error::other("a writer stopped")));
                        }
                        outstanding += 1;
                    }
                    in_flight.push_back(InFlight {
                        seq,
                        rejected: chunk.rejected,
                        rows_read: chunk.rows_read,
                        bytes_read: chunk.bytes_read,
                        outstanding,
                        written: Vec::new(),
                    });
                }
                // Lanes end only once their inputs are dropped, which happens on return.
                else => return Err(ImportError::Io(std::io::Error::other("the writers stopped"))),
            }
        }
    }

    /// Records a chunk whose parts are all written; the caller's verdict on going on.
    async fn record<K: ImportKind>(
        &mut self,
        mut chunk: InFlight<K::Row>,
    ) -> Result<Verdict, ImportError> {
        let counts = &mut self.counts;
        counts.total_original_rows += chunk.rows_read as i64;
        for (part, result) in chunk.written {
            let (refused, outcomes) = result?;
            counts.total_imported_rows += (part.rows.len() - refused.len()) as i64;
            counts.created_rows += outcomes.created;
            counts.updated_rows += outcomes.updated;
            counts.unchanged_rows += outcomes.unchanged;
            for (index, problem) in refused {
                let (record, line) = part.sources.get(index).unwrap_or_default();
                chunk.rejected.push(RejectedRow {
                    record,
                    line,
                    problems: vec![problem],
                });
            }
        }
        chunk.rejected.sort_by_key(|row| row.line);
        for row in &chunk.rejected {
            self.errors.write(row)?;
            self.tally.add(&row.problems);
        }
        counts.total_error_rows += chunk.rejected.len() as i64;
        let Progress::Report(sink) = self.progress else {
            return Ok(Verdict::Continue);
        };
        if !chunk.rejected.is_empty() {
            let summary = self.tally.summary();
            let failed = FailedRows {
                header: &self.header_names,
                rows: &chunk.rejected,
                summary: &summary,
            };
            sink.rows_rejected(failed).await?;
        }
        let verdict = sink
            .chunk_committed(self.counts.total_original_rows, chunk.bytes_read as i64)
            .await?;
        match verdict {
            Verdict::Continue => {}
            Verdict::Cancel => self.cancelled = true,
            Verdict::LostLease => self.lost_lease = true,
        }
        Ok(verdict)
    }
}

type OpenedFile = (Records, CsvFormat, ColumnMap, Vec<String>);

/// Opens the upload (a workbook's sheet, or a CSV sniffed for its encoding and
/// delimiter), reads the header line and maps its columns.
fn open_and_resolve<K: ImportKind>(request: &ImportRequest) -> Result<OpenedFile, ImportError> {
    let (mut records, format) =
        Records::open(&request.path, request.sheet.as_ref()).map_err(|e| match e {
            OpenError::Csv(SourceError::Io(io)) => ImportError::Io(io),
            other => ImportError::BadFile(other.to_string()),
        })?;
    let mut header = StringRecord::new();
    loop {
        match records.read(&mut header) {
            Ok(true) if csv_source::is_blank(&header) => continue,
            Ok(true) => break,
            Ok(false) => return Err(ImportError::BadFile("the file has no header line".into())),
            Err(ReadError::Csv(e)) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                return Err(ImportError::BadFile(
                    "the header line contains characters that cannot be read as UTF-8; save \
                     the file as UTF-8 CSV"
                        .into(),
                ));
            }
            Err(e) => return Err(read_error(e)),
        }
    }
    limits::check_header(&header).map_err(ImportError::BadFile)?;
    let columns = header::resolve(&header, K::FIELDS, request.mapping.as_ref())
        .map_err(|e| ImportError::BadFile(format!("the header line is not usable: {e}")))?;
    let names = columns.header_names().map(str::to_owned).collect();
    records.set_width(columns.width());
    Ok((records, format, columns, names))
}

/// A read error that is not about one row: the file cannot be read on.
fn read_error(error: ReadError) -> ImportError {
    match error {
        ReadError::Csv(e) => csv_error(e),
        ReadError::Workbook(WorkbookError::Io(io)) => ImportError::Io(io),
        ReadError::Workbook(e) => ImportError::BadFile(e.to_string()),
    }
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
    mut records: Records,
    format: &CsvFormat,
    columns: &ColumnMap,
    tenant_id: Uuid,
    chunk_rows: usize,
    writers: usize,
    tx: &mpsc::Sender<Result<Chunk<K::Row>, ImportError>>,
) -> Result<(), ImportError> {
    // Rows split by a hash of their key, so a part gets a few more or fewer than its
    // share (the standard deviation is ~32 rows of 4000 over two writers): the slack
    // keeps its vectors from doubling for the last few rows.
    let share = chunk_rows.div_ceil(writers);
    let part_capacity = share + share / 16 + 16;
    // Encoding here overlaps with Postgres executing the previous chunk.
    let send = |mut chunk: Chunk<K::Row>| {
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
    let mut chunk = Chunk::new(writers, part_capacity, columns.width());
    let mut record = StringRecord::new();
    loop {
        match records.read(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(ReadError::Csv(e)) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                // Only reachable for mixed encodings; report the row, keep going.
                let line = e.position().map(|p| p.line()).unwrap_or(0);
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
            Err(e) => {
                // The writer gets its own copy; a read failure stays an I/O error (worth a
                // retry), a malformed file stays a bad file.
                let err = read_error(e);
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
        chunk.bytes_held += limits::record_cost(&record);
        let parsed = limits::check_row(&record, columns.header_cells())
            .and_then(|()| columns.check_width(&record))
            .map_err(|problem| vec![problem])
            .and_then(|()| K::parse(columns, &record, format));
        match parsed {
            Ok(row) => {
                let part = &mut chunk.parts[(K::partition_key(&row) % writers as u64) as usize];
                part.rows.push(row);
                part.sources.push(&record, line);
            }
            Err(problems) => chunk.rejected.push(RejectedRow {
                record: record.clone(),
                line,
                problems,
            }),
        }
        if chunk.rows_read as usize >= chunk_rows || chunk.bytes_held >= limits::MAX_CHUNK_BYTES {
            let mut full = std::mem::replace(
                &mut chunk,
                Chunk::new(writers, part_capacity, columns.width()),
            );
            full.bytes_read = records.bytes_read();
            if !send(full) {
                return Ok(()); // The writer stopped (cancel or failure).
            }
        }
    }
    if chunk.rows_read > 0 {
        chunk.bytes_read = records.bytes_read();
        send(chunk);
    }
    Ok(())
}

/// Writes a chunk (sending its prepared upsert when there is one); when Postgres refuses
/// it for a reason tied to the data, retries row by row so that one bad row never stops
/// the good ones. Returns the refused rows and what became of the others. Inside a
/// transaction (`savepoints`), each attempt runs under a savepoint so that a refused
/// statement does not abort the transaction.
async fn write_chunk<K: ImportKind>(
    conn: &mut PgConnection,
    savepoints: bool,
    tenant_id: Uuid,
    columns: &ColumnMap,
    rows: &[K::Row],
    prepared: Option<PreparedChunk>,
) -> Result<(Vec<(usize, Problem)>, RowOutcomes), ImportError> {
    savepoint(conn, savepoints, Savepoint::Set).await?;
    let written = match prepared {
        Some(p) => p.run(conn).await,
        None => K::write_chunk(conn, tenant_id, columns, rows).await,
    };
    savepoint(conn, savepoints, Savepoint::settle(&written)).await?;
    match written {
        Ok(result) => Ok((result.rejected, result.outcomes)),
        Err(e) if crate::db::is_transient_error(&e) => Err(e.into()),
        // One row refused for its data (say a key too long to index) is an error row.
        Err(e) if rows.len() == 1 => {
            Ok((vec![(0, refused_by_database(&e))], RowOutcomes::default()))
        }
        Err(e) => {
            tracing::warn!(error = %e, rows = rows.len(), "chunk refused; writing its rows one by one");
            let mut refused = Vec::new();
            let mut outcomes = RowOutcomes::default();
            for (index, row) in rows.iter().enumerate() {
                savepoint(conn, savepoints, Savepoint::Set).await?;
                let written =
                    K::write_chunk(conn, tenant_id, columns, std::slice::from_ref(row)).await;
                savepoint(conn, savepoints, Savepoint::settle(&written)).await?;
                match written {
                    Ok(result) => {
                        outcomes += result.outcomes;
                        refused.extend(result.rejected.into_iter().map(|(_, m)| (index, m)))
                    }
                    Err(e) if crate::db::is_transient_error(&e) => return Err(e.into()),
                    Err(e) => refused.push((index, refused_by_database(&e))),
                }
            }
            Ok((refused, outcomes))
        }
    }
}

/// A step of a write under a savepoint.
enum Savepoint {
    Set,
    Release,
    RollBack,
}

impl Savepoint {
    /// Keeps a write that worked, undoes one that failed.
    fn settle<T>(written: &Result<T, sqlx::Error>) -> Self {
        if written.is_ok() {
            Self::Release
        } else {
            Self::RollBack
        }
    }
}

/// Runs a savepoint step when writes are inside a transaction (`on`), else nothing.
async fn savepoint(conn: &mut PgConnection, on: bool, step: Savepoint) -> Result<(), sqlx::Error> {
    if !on {
        return Ok(());
    }
    let sql = match step {
        Savepoint::Set => "SAVEPOINT chunk",
        Savepoint::Release => "RELEASE SAVEPOINT chunk",
        Savepoint::RollBack => "ROLLBACK TO SAVEPOINT chunk",
    };
    conn.execute(sql).await.map(|_| ())
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
