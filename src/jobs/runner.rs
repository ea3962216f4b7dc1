//! Runs one import job from its row in Postgres to a terminal state, independent of the
//! queue that delivered it. Safe to run twice: a terminal job is left alone, and a job
//! that was running when its worker died starts over with fresh counts.

use std::{sync::Arc, time::Duration};

use tracing::Instrument;
use uuid::Uuid;

use super::report;
use crate::{
    config::Settings,
    db::{self, jobs::JobRecord},
    domain::JobState,
    import::{self, ImportRequest, Progress},
    mail::EmailClient,
    storage::FileStore,
};

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct WorkerContext {
    /// Postgres.
    pub db: sqlx::PgPool,
    /// Uploads and error files.
    pub store: FileStore,
    /// Sends error reports.
    pub mailer: EmailClient,
    /// The configuration.
    pub settings: Arc<Settings>,
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Try again later (Postgres unreachable, disk trouble).
    #[error("transient failure: {0}")]
    Transient(String),
    /// Retrying will not help; the job is already marked failed.
    #[error("{0}")]
    Final(String),
}

impl From<sqlx::Error> for RunError {
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(format!("database error: {e}"))
    }
}

/// Runs the job `job_id` to a terminal state (or returns a transient error to be retried).
pub async fn execute(ctx: &WorkerContext, job_id: Uuid) -> Result<(), RunError> {
    let span = tracing::info_span!("job", %job_id, tenant = tracing::field::Empty, kind = tracing::field::Empty);
    let result = run(ctx, job_id).instrument(span).await;
    crate::alloc::release_freed_memory();
    result
}

async fn run(ctx: &WorkerContext, job_id: Uuid) -> Result<(), RunError> {
    let Some(job) = db::jobs::get(&ctx.db, job_id).await? else {
        tracing::warn!("no such job; dropping the delivery");
        return Ok(());
    };
    let (owner_email, tenant) = db::accounts::job_owner(&ctx.db, job.user_id)
        .await?
        .unwrap_or_default();
    let span = tracing::Span::current();
    span.record("tenant", tenant.as_str());
    span.record("kind", job.kind().as_str());

    if job.state().is_terminal() {
        // A second delivery of a finished job: only a report that was never sent is owed.
        send_report(ctx, &job, &owner_email).await;
        return Ok(());
    }
    if job.cancel_requested_at.is_some() {
        if let Some(job) = db::jobs::finish(
            &ctx.db,
            job_id,
            JobState::Cancelled,
            Default::default(),
            None,
        )
        .await?
        {
            tracing::info!("cancelled before it started");
            ctx.store.remove_upload(job.id).await;
        }
        return Ok(());
    }
    // A run that never ended (its worker died each time, e.g. killed for memory) is not
    // counted by the queue; without this bound such a job would be re-run forever.
    let max_attempts = ctx.settings.job_max_attempts as i32;
    if job.state() == JobState::Running && job.attempts >= max_attempts {
        let message = format!(
            "gave up after {} attempts: the worker stopped during each run",
            job.attempts
        );
        tracing::error!(%message, "abandoning the job");
        if let Some(job) = db::jobs::fail(&ctx.db, job_id, &message).await? {
            send_report(ctx, &job, &owner_email).await;
            ctx.store.remove_upload(job_id).await;
        }
        return Err(RunError::Final(message));
    }
    let Some(job) = db::jobs::start_run(&ctx.db, job_id).await? else {
        return Ok(()); // Finished by someone else in the meantime.
    };
    tracing::info!(attempt = job.attempts, "import started");

    let request = ImportRequest {
        tenant_id: job.tenant_id,
        path: ctx.store.upload_path(job_id),
        error_path: ctx.store.error_file_path(job_id),
        mapping: job.column_mapping.clone().map(|m| m.0),
        chunk_rows: ctx.settings.import_chunk_rows,
        writers: ctx.settings.import_writers,
    };
    let progress = Progress::Job {
        pool: &ctx.db,
        job_id,
    };
    let result = import::run(job.kind(), &ctx.db, request, progress).await;

    let finished = match result {
        Ok(outcome) => {
            let state = if outcome.cancelled {
                JobState::Cancelled
            } else {
                JobState::Completed
            };
            let note = outcome.cancelled.then(|| {
                format!(
                    "cancelled on request after {} rows were committed",
                    outcome.counts.total_imported_rows
                )
            });
            tracing::info!(state = state.as_str(), counts = ?outcome.counts, "import finished");
            db::jobs::finish(&ctx.db, job_id, state, outcome.counts, note.as_deref()).await?
        }
        Err(e) if e.is_transient() && job.attempts < max_attempts => {
            tracing::warn!(error = %e, attempt = job.attempts, "transient failure; the job will be retried");
            db::jobs::requeue(&ctx.db, job_id).await?;
            return Err(RunError::Transient(e.to_string()));
        }
        Err(e) => {
            let message = if e.is_transient() {
                format!("gave up after {} attempts: {e}", job.attempts)
            } else {
                e.to_string()
            };
            tracing::warn!(error = %message, "import failed");
            let failed = db::jobs::fail(&ctx.db, job_id, &message).await?;
            if let Some(job) = &failed {
                send_report(ctx, job, &owner_email).await;
                ctx.store.remove_upload(job_id).await;
            }
            return Err(RunError::Final(message));
        }
    };
    if let Some(job) = finished {
        send_report(ctx, &job, &owner_email).await;
        ctx.store.remove_upload(job_id).await;
    }
    Ok(())
}

/// Sends the error report when the job asked for one and nobody has sent it yet.
/// Email trouble never fails the import: it is recorded on the job instead.
async fn send_report(ctx: &WorkerContext, job: &JobRecord, to: &str) {
    if !report::wanted(job) {
        return;
    }
    match db::jobs::claim_email(&ctx.db, job.id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim the error email; not sending it");
            return;
        }
    }
    let attachment = match tokio::fs::read(ctx.store.error_file_path(job.id)).await {
        Ok(content) if content.len() <= report::MAX_ATTACHMENT_BYTES => Some(content),
        _ => None,
    };
    let url = crate::api::views::error_file_url(ctx.settings.public_base(), job.id);
    let email = report::build(job, to, &url, attachment);
    let mut delay = Duration::from_secs(1);
    let outcome = loop {
        match ctx.mailer.send(email.clone()).await {
            Ok(()) => break Ok(()),
            Err(e) if e.is_transient() && delay <= Duration::from_secs(4) => {
                tracing::warn!(error = %e, "error email not sent; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    match &outcome {
        Ok(()) => tracing::info!(%to, "error email sent"),
        Err(e) => tracing::warn!(error = %e, "error email could not be sent"),
    }
    if let Err(e) = db::jobs::record_email(
        &ctx.db,
        job.id,
        outcome.as_ref().map(|_| ()).map_err(String::as_str),
    )
    .await
    {
        tracing::warn!(error = %e, "could not record the email outcome");
    }
}
