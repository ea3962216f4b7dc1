//! What the engine tells its caller after each committed chunk, and what it hears back:
//! the small interface that keeps the engine free of any knowledge of the jobs table.

use super::error::ImportError;
use crate::domain::ErrorSummaryEntry;
use crate::import::error_file::RejectedRow;

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
