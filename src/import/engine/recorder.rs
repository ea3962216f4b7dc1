//! Hands chunks to the lanes and records each chunk in file order once all its parts are
//! back: counts, the error file, progress and the caller's verdict.

use tokio::sync::mpsc;

use super::{
    CHUNKS_IN_FLIGHT, Chunk, Part,
    error::ImportError,
    lanes::{LaneDone, LaneJob, PartResult},
    progress::{FailedRows, Progress, Verdict},
};
use crate::domain::{ErrorTally, ImportCounts};
use crate::import::{
    error_file::{ErrorFileWriter, RejectedRow},
    kind::ImportKind,
};

/// A chunk whose parts are out with the lanes.
pub(super) struct InFlight<R> {
    pub(super) seq: u64,
    pub(super) rejected: Vec<RejectedRow>,
    pub(super) rows_read: u64,
    pub(super) bytes_read: u64,
    /// Parts not back yet.
    pub(super) outstanding: usize,
    pub(super) written: Vec<(Part<R>, PartResult)>,
}

/// Hands chunks to the lanes, and records each chunk, in file order, once all its parts
/// are back: counts, error file, progress and the caller's verdict.
pub(super) struct Recorder<'a> {
    pub(super) errors: ErrorFileWriter,
    pub(super) header_names: Vec<String>,
    pub(super) tally: ErrorTally,
    pub(super) counts: ImportCounts,
    pub(super) progress: Progress<'a>,
    pub(super) cancelled: bool,
    pub(super) lost_lease: bool,
}

impl<'a> Recorder<'a> {
    pub(super) fn new(
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
    pub(super) async fn coordinate<K: ImportKind>(
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
