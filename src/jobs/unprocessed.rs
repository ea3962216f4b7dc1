//! The rows a cancelled or failed job never got to: cut from its upload (header + those
//! rows, byte for byte) into the file store before the upload is removed, so the user
//! can upload exactly the rest.
//!
//! Where the job stopped is `rows_processed` as its end left it: the rows of the chunks
//! its last run committed (a retry starts from the top, so earlier runs do not count; a
//! row committed by an earlier run and offered again is upserted again, harmlessly). A
//! job that stopped before committing a chunk (cancelled while queued, failed on its
//! header, gave up between runs) has processed nothing: the whole file is unprocessed.
//!
//! Only the run that ended a job reads its upload as a workbook or a CSV again (see
//! [`Cutter`]): a file whose reading kills a worker must not be read by the reconciler, a
//! cancel, a settle or an API request, or one upload could take down every process that
//! touches it. Outside that run a CSV's unprocessed rows are cut only where they need no
//! parsing (the whole file, copied) or on request, and a workbook's are never cut.

use std::io::Write;

use crate::{
    db::jobs::JobRecord,
    domain::JobState,
    import::{
        unprocessed::write_unprocessed,
        workbook::{self, SheetChoice},
    },
    storage::{ByteStream, Store, StoreError},
};

/// True for the jobs that have unprocessed rows to offer: cancelled or failed ones.
pub(crate) fn offered(job: &JobRecord) -> bool {
    // A revert job has no file.
    job.state().leaves_rows_unprocessed() && job.reverts_job_id.is_none()
}

/// Why a job's unprocessed rows cannot be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unavailable {
    /// The job read its whole file.
    #[error(
        "job {0} completed: it got to every row of its file, so it has no unprocessed rows \
         (rows that failed are in its error file)"
    )]
    Completed(uuid::Uuid),
    /// A revert job reads no file.
    #[error(
        "job {0} is a revert: it has no file, so no unprocessed rows; ask for the revert again \
         to do the rest"
    )]
    Revert(uuid::Uuid),
    /// The job has not ended.
    #[error("job {0} is still {1}: unprocessed rows exist only once a job is cancelled or fails")]
    NotEnded(uuid::Uuid, &'static str),
    /// The upload was gone before they could be cut (an upload removed by hand, or a
    /// disk that was full when the job ended).
    #[error("the unprocessed rows of job {0} were not kept")]
    NotKept(uuid::Uuid),
    /// A workbook job that ended before reading any row (cancelled while queued, or given
    /// up between runs): every row is unprocessed, and a workbook is read only by a run.
    #[error(
        "job {0} ended before it read any row of its workbook (only the run that ends a job \
         reads its workbook again): all of its rows are unprocessed; upload the workbook again"
    )]
    WholeWorkbook(uuid::Uuid),
    /// A workbook job whose worker did not cut the rows (it does so right after the job
    /// ends): a workbook is never read on the request path.
    #[error(
        "the unprocessed rows of job {0} were not cut from its workbook (only the run that \
         ends a job reads its workbook again, and it could not); try again in a minute"
    )]
    WorkbookNotCut(uuid::Uuid),
    /// Reading or writing the files failed.
    #[error("file error: {0}")]
    Store(#[from] StoreError),
}

/// Who is cutting a job's unprocessed rows, which decides what may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cutter {
    /// The run that ended the job: it has just read the file under its budget, so it
    /// may read it again, workbook or CSV.
    Run,
    /// Anyone else (the reconciler, a settle, an API request): a workbook is not read,
    /// a CSV only as a stream of bounded records.
    Outside,
}

/// Keeps the job's unprocessed rows unless they are kept already. Returns `false` when
/// the upload is gone (nothing to cut) or is a workbook that `cutter` may not read. Call
/// it before removing the upload.
pub(crate) async fn keep(
    store: &Store,
    job: &JobRecord,
    cutter: Cutter,
) -> Result<bool, StoreError> {
    if store.unprocessed_exists(job.id).await? {
        return Ok(true);
    }
    let upload = match store.local_upload(job.id).await {
        Ok(upload) => upload,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    if cutter == Cutter::Outside {
        match is_workbook(upload.path()).await {
            Ok(false) => {}
            Ok(true) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    // Removed when dropped on any early return below.
    let part = store.unprocessed_scratch(job.id)?;
    let rows_done = job.rows_processed.max(0) as u64;
    let sheet = job.sheet.as_deref().map(SheetChoice::parse);
    let written = {
        let upload = upload.path().to_owned();
        let part = part.path().to_owned();
        tokio::task::spawn_blocking(move || write_file(&upload, sheet.as_ref(), rows_done, &part))
            .await
            .map_err(std::io::Error::other)?
    };
    drop(upload);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    store.keep_unprocessed(job.id, part).await?;
    Ok(true)
}

/// Keeps them, logging instead of failing: the job has ended either way.
pub(crate) async fn keep_logged(store: &Store, job: &JobRecord, cutter: Cutter) {
    if !offered(job) {
        return;
    }
    match keep(store, job, cutter).await {
        Ok(true) => tracing::info!(rows_processed = job.rows_processed, "unprocessed rows kept"),
        Ok(false) => tracing::warn!("the upload is gone; its unprocessed rows cannot be kept"),
        Err(e) => tracing::warn!(error = %e, "the unprocessed rows could not be kept"),
    }
}

/// The job's unprocessed rows as a stream, cutting them now when the job has just ended
/// and its worker has not got to it yet.
pub(crate) async fn file_of(store: &Store, job: &JobRecord) -> Result<ByteStream, Unavailable> {
    if job.reverts_job_id.is_some() {
        return Err(Unavailable::Revert(job.id));
    }
    match job.state() {
        JobState::Completed => return Err(Unavailable::Completed(job.id)),
        state if !state.is_terminal() => {
            return Err(Unavailable::NotEnded(job.id, state.as_str()));
        }
        _ => {}
    }
    // When `keep` finds no upload, the worker may have kept the rows between our look
    // and the upload's removal: the stored file decides.
    let kept = keep(store, job, Cutter::Outside).await?;
    if let Some(file) = store.unprocessed_file(job.id).await? {
        return Ok(file);
    }
    if kept {
        return Err(Unavailable::NotKept(job.id));
    }
    // Not kept, and not cut here: a workbook, or an upload that is gone. Which one only
    // matters for the message, and the upload (if any) is still there to tell.
    let workbook = match store.local_upload(job.id).await {
        Ok(upload) => is_workbook(upload.path()).await.unwrap_or(false),
        // Gone already: the name the file was uploaded under is all there is to tell.
        Err(_) => {
            let name = job.file_name.to_ascii_lowercase();
            [".xlsx", ".xlsm", ".xls", ".ods"]
                .iter()
                .any(|ext| name.ends_with(ext))
        }
    };
    if !workbook {
        return Err(Unavailable::NotKept(job.id));
    }
    // The run that ended the job cuts a workbook's rows right after the end it recorded:
    // a request that comes in between waits for them a little rather than answer 404.
    let just_ended = job
        .finished_at
        .is_some_and(|at| chrono::Utc::now() - at < chrono::TimeDelta::seconds(30));
    if just_ended {
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if let Some(file) = store.unprocessed_file(job.id).await? {
                return Ok(file);
            }
        }
    }
    Err(match job.rows_processed {
        0 => Unavailable::WholeWorkbook(job.id),
        _ => Unavailable::WorkbookNotCut(job.id),
    })
}
/// Whether the upload at `path` is a workbook, from its first bytes only.
async fn is_workbook(path: &std::path::Path) -> std::io::Result<bool> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || workbook::has_workbook_magic(&path))
        .await
        .map_err(std::io::Error::other)?
}

fn write_file(
    upload: &std::path::Path,
    sheet: Option<&SheetChoice>,
    rows_done: u64,
    part: &std::path::Path,
) -> std::io::Result<()> {
    // Opened first, so that a missing upload is NotFound before anything is created.
    std::fs::File::open(upload)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(part)?);
    write_unprocessed(upload, sheet, rows_done, &mut out).map_err(|e| match e {
        crate::import::unprocessed::UnprocessedError::Io(io) => io,
        other => std::io::Error::other(other),
    })?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}
