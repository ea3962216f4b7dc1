//! Drives one import. A blocking thread parses and validates the CSV, splits each chunk's
//! rows by key into one part per writer and encodes each part's upsert. Each writer is a
//! lane with its own connection and queue of parts, so the lanes keep Postgres busy on
//! every core: a lane that is done with its part of a chunk starts on its part of the next
//! one while the others finish. Chunks are recorded in file order once all their parts are
//! written: counts, error file, progress, and the caller's verdict (cancel, lost lease),
//! which therefore takes effect after at most one more chunk, a whole one, that is counted
//! too. A dry run writes the same way through one lane inside a transaction that is rolled
//! back at the end.
//!
//! One idea per file: `parse` (the parser thread), `lanes` (the writers), `recorder`
//! (chunks recorded in order), `progress` (what the caller hears and answers), `error`;
//! this file holds the request, the outcome and the run that joins them.

mod error;
mod lanes;
mod parse;
mod progress;
mod recorder;

pub use error::ImportError;
pub use progress::{FailedRows, Progress, ProgressSink, Verdict};

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use self::{
    lanes::{Lane, LaneConn},
    parse::{open_and_resolve, parse_chunks},
    recorder::Recorder,
};
use super::{
    error_file::RejectedRow,
    kind::{ImportKind, PreparedChunk, WriteScope},
    records::Records,
    sources::SourceRecords,
    workbook::SheetChoice,
};
use crate::domain::ImportCounts;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Whose data it is.
    pub tenant_id: Uuid,
    /// The job importing it, under which what it changes is kept for a revert (`None`
    /// keeps nothing: benchmarks compare the two).
    pub job_id: Option<Uuid>,
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
        let scope = scope(&request);
        tokio::task::spawn_blocking(move || {
            parse_chunks::<K>(records, &format, &columns, scope, chunk_rows, writers, &tx)
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
            scope: scope(&request),
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

fn scope(request: &ImportRequest) -> WriteScope {
    WriteScope {
        tenant_id: request.tenant_id,
        job_id: request.job_id,
    }
}

/// Chunks out with the writers at most. With two, the writers write one chunk while the
/// one before is recorded, and memory stays flat (a few chunks: the one being parsed, one
/// waiting, these).
const CHUNKS_IN_FLIGHT: usize = 2;
