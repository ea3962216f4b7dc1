//! Runs one delivery of an import job, independent of the queue that delivered it.
//!
//! Postgres decides everything: a run first claims the job under a lease (owner and
//! expiry), renews it while it works and ends the job only while it still holds it. A
//! second delivery of the same job therefore finds it held or ended and does nothing;
//! a run that lost its lease stops at the next chunk boundary without writing counts.
//!
//! The retry rule lives here, in one counter: a job gets at most `job_max_attempts`
//! runs, whatever ended the earlier ones (a transient failure or a worker that died).
//! The queue never retries: the handler always acknowledges, and a job to be run again
//! goes back to `queued` with a backoff for the reconciler to enqueue.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use tracing::Instrument;
use uuid::Uuid;

use super::lifecycle::{self, Ending};
use crate::{
    config::Settings,
    db::{
        self,
        jobs::{JobRecord, Lease, Renewal},
        schedule::PickRules,
    },
    domain::ImportCounts,
    import::{
        self, FailedRows, ImportError, ImportRequest, Progress, ProgressSink, RevertCounts,
        RevertRequest, Verdict, workbook::SheetChoice,
    },
    mail::EmailClient,
    storage::Store,
};

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct WorkerContext {
    /// Postgres.
    pub db: sqlx::PgPool,
    /// Uploads and error files.
    pub store: Store,
    /// Sends error reports.
    pub mailer: EmailClient,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Names this worker process in lease owners, for the logs and the jobs table.
    pub worker_name: String,
    /// Set when the process is asked to stop: a slot then starts no further job.
    pub stop: StopRequest,
}

/// Whether the worker process was asked to stop; shared by its slots.
#[derive(Debug, Clone, Default)]
pub struct StopRequest(Arc<AtomicBool>);

impl StopRequest {
    /// Asks every slot to start no further job.
    pub(crate) fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub(crate) fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs one delivery of job `job_id`. Never fails: whatever happens is recorded on the
/// job's row, and whatever could not be recorded (Postgres down) is recovered by the
/// reconciler once the run's lease lapses.
///
/// The delivered job is only a wake-up: it is ended here when it must end without a run
/// (see [`settle_delivered`]), and then this slot runs jobs in the fair order (see
/// `db::schedule`) for as long as there is one it may start. So a slot freed by a tenant's
/// job goes to the tenant that waits, whatever order the queue delivers tasks in, and a
/// tenant held back by its cap gets its next job started by the run that frees its slot.
/// A job whose task was spent on another job is picked by a later run, or pushed again by
/// the reconciler.
pub async fn execute(ctx: &WorkerContext, job_id: Uuid) {
    let span = job_span(job_id);
    if let Err(e) = settle_delivered(ctx, job_id).instrument(span.clone()).await {
        span.in_scope(|| tracing::warn!(error = %e, "could not settle the delivered job"));
    }
    let rules = PickRules {
        order: ctx.settings.job_pick_order,
        tenant_max_running: ctx.settings.tenant_max_running,
        max_attempts: max_attempts(ctx),
        max_lost_runs: max_lost_runs(ctx),
    };
    while !ctx.stop.is_requested() {
        let lease = Lease {
            owner: format!("{}/{}", ctx.worker_name, Uuid::new_v4().simple()),
            duration: Duration::from_secs(ctx.settings.orphan_timeout_secs.max(3)),
        };
        let job = match db::schedule::claim_next(&ctx.db, &lease, rules).await {
            Ok(Some(job)) => job,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not pick the next job; the reconciler pushes it again");
                break;
            }
        };
        let span = job_span(job.id);
        if let Err(e) = run_claimed(ctx, job, &lease).instrument(span.clone()).await {
            span.in_scope(|| {
                tracing::warn!(error = %e, "could not record the run; the job is handed on when its lease lapses")
            });
        }
        crate::alloc::release_freed_memory();
    }
}

fn job_span(job_id: Uuid) -> tracing::Span {
    tracing::info_span!("job", %job_id, tenant = tracing::field::Empty, kind = tracing::field::Empty)
}

fn max_attempts(ctx: &WorkerContext) -> i32 {
    ctx.settings.job_max_attempts.max(1) as i32
}

fn max_lost_runs(ctx: &WorkerContext) -> i32 {
    ctx.settings.job_max_lost_runs.max(1) as i32
}

/// Names the job's tenant and kind on the current span; returns the tenant's slug.
async fn describe_span(
    ctx: &WorkerContext,
    job: &JobRecord,
) -> Result<Option<String>, sqlx::Error> {
    let span = tracing::Span::current();
    let tenant = db::accounts::job_owner(&ctx.db, job.user_id)
        .await?
        .map(|(_, tenant)| tenant);
    if let Some(tenant) = &tenant {
        span.record("tenant", tenant.as_str());
    }
    span.record("kind", job.kind().as_str());
    Ok(tenant)
}

/// Ends the delivered job when it must end without a run: it ended already (its
/// follow-ups are settled), a cancel is pending (its run died after the request), or it
/// is out of lost runs or attempts. The fair pick never starts such a job.
async fn settle_delivered(ctx: &WorkerContext, job_id: Uuid) -> Result<(), sqlx::Error> {
    let Some(job) = db::jobs::get(&ctx.db, job_id).await? else {
        tracing::warn!("no such job; dropping the delivery");
        return Ok(());
    };
    describe_span(ctx, &job).await?;
    if job.state().is_terminal() {
        lifecycle::settle_ended(ctx, &job).await;
        return Ok(());
    }
    if job.cancel_requested_at.is_some() {
        // Its run died after the cancel request; what it committed stays.
        let note = "cancelled on request".to_owned();
        lifecycle::end(ctx, job_id, None, Ending::Cancelled { counts: None, note }).await?;
        return Ok(());
    }
    if job.lost_runs >= max_lost_runs(ctx) {
        let message = format!(
            "not run again: its worker stopped without reporting back during {} runs (the \
             process was killed or crashed while reading it; a file that costs a worker more \
             than it has does this)",
            job.lost_runs
        );
        lifecycle::end(ctx, job_id, None, Ending::Failed(message)).await?;
        return Ok(());
    }
    if job.attempts >= max_attempts(ctx) {
        let reason = job
            .error
            .clone()
            .unwrap_or_else(|| "the worker stopped during each run".into());
        let message = format!("gave up after {} attempts: {reason}", job.attempts);
        lifecycle::end(ctx, job_id, None, Ending::Failed(message)).await?;
    }
    Ok(())
}

/// Runs a job this slot has claimed under `lease`, and records how the run ended.
async fn run_claimed(
    ctx: &WorkerContext,
    job: JobRecord,
    lease: &Lease,
) -> Result<(), sqlx::Error> {
    let tenant = describe_span(ctx, &job).await?;
    if job.attempts == 1
        && let Some(waited) = db::schedule::queue_wait(&job)
    {
        let tenant = tenant
            .as_deref()
            .filter(|_| ctx.settings.metrics_tenant_labels);
        crate::prometheus::queue_wait(job.kind(), tenant, waited);
    }
    // The failed rows of an earlier run of this job are not this run's.
    db::job_errors::clear(&ctx.db, job.id, lease).await?;
    tracing::info!(attempt = job.attempts, "import started");
    let result = import_under_lease(ctx, &job, lease).await;
    conclude(ctx, &job, lease, result, max_attempts(ctx)).await
}

/// Runs the import while a heartbeat keeps the lease.
async fn import_under_lease(
    ctx: &WorkerContext,
    job: &JobRecord,
    lease: &Lease,
) -> Result<import::ImportOutcome, ImportError> {
    let progress = LeasedProgress {
        pool: ctx.db.clone(),
        job_id: job.id,
        lease: lease.clone(),
        lost: Arc::new(AtomicBool::new(false)),
        error_room: Arc::new(AtomicUsize::new(
            usize::try_from(ctx.settings.error_rows_stored_max).unwrap_or(0),
        )),
    };
    // A local error CSV that is stored below, before the job can end and be read.
    let error_file = ctx
        .store
        .error_scratch(job.id)
        .map_err(std::io::Error::from)?;
    // Stopped however the run ends, a panic included: a heartbeat left behind would keep
    // renewing the lease of a run that is gone.
    let heartbeat = AbortOnDrop(tokio::spawn(progress.clone().heartbeat()));
    let run = async {
        match job.reverts_job_id {
            Some(reverted) => revert(ctx, job, reverted, error_file.path(), &progress).await,
            None => import(ctx, job, error_file.path(), &progress).await,
        }
    };
    // A panic fails this job (the next run would panic the same way) instead of
    // unwinding through the worker and leaving the job `running` until its lease lapses.
    let result = AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            tracing::error!("the import panicked");
            Err(ImportError::from_panic(panic.as_ref()))
        });
    drop(heartbeat);
    match result {
        // Only a run that will end the job stores its error CSV (another run has it now).
        Ok(outcome) if !outcome.lost_lease => {
            ctx.store
                .keep_error_file(job.id, error_file)
                .await
                .map_err(std::io::Error::from)?;
            Ok(outcome)
        }
        other => other,
    }
}

/// Imports the job's upload (with S3, from a local copy removed once done).
async fn import(
    ctx: &WorkerContext,
    job: &JobRecord,
    error_path: &std::path::Path,
    progress: &LeasedProgress,
) -> Result<import::ImportOutcome, ImportError> {
    let upload = ctx
        .store
        .local_upload(job.id)
        .await
        .map_err(std::io::Error::from)?;
    let request = ImportRequest {
        tenant_id: job.tenant_id,
        job_id: Some(job.id),
        path: upload.path().to_owned(),
        error_path: error_path.to_owned(),
        mapping: job.column_mapping.clone().map(|m| m.0),
        sheet: job.sheet.as_deref().map(SheetChoice::parse),
        chunk_rows: ctx.settings.import_chunk_rows,
        writers: ctx.settings.import_writers,
        dry_run: job.dry_run,
    };
    import::run(job.kind(), &ctx.db, request, Progress::Report(progress)).await
}

/// Undoes job `reverted` (see `import::revert`); its outcome in the import's terms: the
/// rows deleted and restored are imported, the conflicts failed.
async fn revert(
    ctx: &WorkerContext,
    job: &JobRecord,
    reverted: Uuid,
    error_path: &std::path::Path,
    progress: &LeasedProgress,
) -> Result<import::ImportOutcome, ImportError> {
    let undone = db::jobs::get(&ctx.db, reverted)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let request = RevertRequest {
        tenant_id: job.tenant_id,
        kind: job.kind(),
        job_id: job.id,
        reverts: reverted,
        window: (
            undone.created_at,
            undone.finished_at.unwrap_or_else(chrono::Utc::now),
        ),
        dry_run: job.dry_run,
        error_path: error_path.to_owned(),
        chunk_rows: ctx.settings.import_chunk_rows,
    };
    let outcome = import::run_revert(&ctx.db, request, Progress::Report(progress)).await?;
    let RevertCounts {
        deleted,
        restored,
        conflicts,
    } = outcome.counts;
    Ok(import::ImportOutcome {
        counts: ImportCounts {
            total_original_rows: deleted + restored + conflicts,
            total_imported_rows: deleted + restored,
            total_error_rows: conflicts,
            deleted_rows: deleted,
            restored_rows: restored,
            conflict_rows: conflicts,
            ..ImportCounts::default()
        },
        cancelled: outcome.cancelled,
        lost_lease: outcome.lost_lease,
        error_file: outcome.error_file,
    })
}

/// Records how the run ended: the job's end, a retry later, or nothing (lease lost).
async fn conclude(
    ctx: &WorkerContext,
    job: &JobRecord,
    lease: &Lease,
    result: Result<import::ImportOutcome, ImportError>,
    max_attempts: i32,
) -> Result<(), sqlx::Error> {
    let ending = match result {
        Ok(outcome) if outcome.lost_lease => {
            tracing::warn!("the run lost its lease; another run has the job");
            return Ok(());
        }
        Ok(outcome) if outcome.cancelled => Ending::Cancelled {
            counts: Some(outcome.counts),
            note: format!(
                "cancelled on request after {} rows were committed",
                outcome.counts.total_imported_rows
            ),
        },
        Ok(outcome) => Ending::Completed(outcome.counts),
        Err(e) if e.is_transient() && job.attempts < max_attempts => {
            let delay = retry_delay(job.attempts);
            let note = format!(
                "attempt {} failed ({e}); retrying in {} s",
                job.attempts,
                delay.as_secs()
            );
            tracing::warn!(error = %e, attempt = job.attempts, "transient failure; the job will be retried");
            db::jobs::release_for_retry(&ctx.db, job.id, lease, &note, delay).await?;
            return Ok(());
        }
        Err(e) if e.is_transient() => {
            Ending::Failed(format!("gave up after {} attempts: {e}", job.attempts))
        }
        Err(e) => Ending::Failed(e.to_string()),
    };
    if let Ending::Failed(message) = &ending {
        tracing::warn!(error = %message, "import failed");
    }
    lifecycle::end(ctx, job.id, Some(lease), ending).await?;
    Ok(())
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Backoff before run `attempt + 1`: 2, 4, 8 … seconds, at most a minute.
fn retry_delay(attempt: i32) -> Duration {
    let exponent = attempt.clamp(1, 6) as u32;
    Duration::from_secs(2u64.pow(exponent).min(60))
}

/// Renews the job's lease after each chunk (with the progress) and on a heartbeat (so a
/// live run that waits on a lock keeps its job); tells the engine to stop when the
/// lease is lost or a cancel is requested.
#[derive(Clone)]
struct LeasedProgress {
    pool: sqlx::PgPool,
    job_id: Uuid,
    lease: Lease,
    lost: Arc<AtomicBool>,
    /// Failed rows that may still be stored as data (`error_rows_stored_max` at start).
    error_room: Arc<AtomicUsize>,
}

impl LeasedProgress {
    async fn heartbeat(self) {
        let every = self.lease.duration / 3;
        loop {
            tokio::time::sleep(every).await;
            match db::jobs::renew(&self.pool, self.job_id, &self.lease, None).await {
                Ok(Renewal::Lost) => {
                    self.lost.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(_) => {}
                // Postgres away: the chunk writes fail too; the lease lapses if it lasts.
                Err(e) => tracing::debug!(error = %e, "lease renewal failed"),
            }
        }
    }
}

impl ProgressSink for LeasedProgress {
    fn chunk_committed(
        &self,
        rows_processed: i64,
        bytes_processed: i64,
    ) -> BoxFuture<'_, Result<Verdict, ImportError>> {
        async move {
            if self.lost.load(Ordering::SeqCst) {
                return Ok(Verdict::LostLease);
            }
            let progress = Some((rows_processed, bytes_processed));
            let renewal = db::jobs::renew(&self.pool, self.job_id, &self.lease, progress).await?;
            Ok(match renewal {
                Renewal::Held => Verdict::Continue,
                Renewal::CancelRequested => Verdict::Cancel,
                Renewal::Lost => Verdict::LostLease,
            })
        }
        .boxed()
    }

    fn rows_rejected<'a>(
        &'a self,
        failed: FailedRows<'a>,
    ) -> BoxFuture<'a, Result<(), ImportError>> {
        async move {
            // Chunks are reported one at a time, so a plain load and store suffice.
            let room = self.error_room.load(Ordering::SeqCst);
            let record =
                |room| db::job_errors::record(&self.pool, self.job_id, &self.lease, failed, room);
            let stored = match record(room).await {
                Ok(stored) => stored,
                Err(e) if db::is_transient_error(&e) => return Err(e.into()),
                // The error CSV has the rows whatever happens here: rows Postgres will not
                // store as data must not fail the import. The summary goes in alone.
                Err(e) => {
                    tracing::warn!(error = %e, "failed rows not stored as data; summary only");
                    if let Err(e) = record(0).await {
                        tracing::warn!(error = %e, "error summary not stored");
                    }
                    0
                }
            };
            self.error_room
                .store(room.saturating_sub(stored as usize), Ordering::SeqCst);
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::{AbortOnDrop, retry_delay};
    use crate::import::ImportError;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panic_in_a_blocking_part_of_the_import_is_a_permanent_failure() {
        let joined = tokio::task::spawn_blocking(|| -> () { panic!("calamine said no") }).await;
        let error = ImportError::from(joined.unwrap_err());
        assert!(matches!(&error, ImportError::Panicked(m) if m == "calamine said no"));
        assert!(!error.is_transient(), "a retry would panic again");
        assert!(
            error
                .to_string()
                .contains("internal error (calamine said no)")
        );
    }

    #[tokio::test]
    async fn the_heartbeat_stops_when_its_guard_drops_even_on_a_panic() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let guard = AbortOnDrop(tokio::spawn(async move {
            let _tx = tx; // dropped when the task is aborted
            std::future::pending::<()>().await;
        }));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("the run panicked");
        }));
        assert!(unwound.is_err());
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), rx.recv()).await,
            Ok(None),
            "the task ended"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_minute() {
        assert_eq!(retry_delay(1), Duration::from_secs(2));
        assert_eq!(retry_delay(2), Duration::from_secs(4));
        assert_eq!(retry_delay(5), Duration::from_secs(32));
        assert_eq!(retry_delay(9), Duration::from_secs(60));
    }
}
