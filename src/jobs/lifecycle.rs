//! The one place where a job ends: its terminal state, its error report, keeping the rows
//! a cancelled or failed job never got to, and the removal of its upload happen here, once. The state change is guarded in Postgres, so of two
//! runs racing to end the same job exactly one gets the row back and does the rest.
//! The webhook deliveries a job's end owes are inserted in the same transaction.

use std::time::Duration;

use uuid::Uuid;

use super::{
    WorkerContext, report,
    unprocessed::{self, Cutter},
};
use crate::{
    db::{
        self,
        jobs::{JobRecord, Lease},
    },
    domain::{ImportCounts, JobState},
    webhooks,
};

/// How a job ends.
#[derive(Debug, Clone)]
pub(crate) enum Ending {
    /// Every row was read; `counts` says what became of them.
    Completed(ImportCounts),
    /// Stopped on request; `counts` when it had started (rows committed so far).
    Cancelled {
        /// The counts of the part that ran, if any did.
        counts: Option<ImportCounts>,
        /// Why, in words for the client.
        note: String,
    },
    /// The file cannot be imported, or the attempts are used up.
    Failed(String),
}

/// Ends the job: with `lease`, only while that run still holds it; without, only while
/// nobody does. Returns the ended job, or `None` when someone else ended or holds it.
pub(crate) async fn end(
    ctx: &WorkerContext,
    job_id: Uuid,
    lease: Option<&Lease>,
    ending: Ending,
) -> Result<Option<JobRecord>, sqlx::Error> {
    let (state, counts, error) = match ending {
        Ending::Completed(counts) => (JobState::Completed, Some(counts), None),
        Ending::Cancelled { counts, note } => (JobState::Cancelled, counts, Some(note)),
        Ending::Failed(message) => (JobState::Failed, None, Some(message)),
    };
    // The end and the webhook deliveries it owes commit together: a crash right after the
    // end cannot lose a delivery, and one before it leaves the job to end again.
    let mut tx = ctx.db.begin().await?;
    let Some(job) = db::jobs::end(&mut *tx, job_id, lease, state, counts, error.as_deref()).await?
    else {
        tracing::info!(
            state = state.as_str(),
            "not ended here: another run holds or ended the job"
        );
        return Ok(None);
    };
    let webhooks = webhooks::owe_job_finished(&mut tx, &job, ctx.settings.public_base()).await?;
    tx.commit().await?;
    if webhooks > 0 {
        tracing::info!(webhooks, "webhook deliveries owed");
    }
    match &job.error {
        Some(error) => {
            tracing::info!(state = state.as_str(), %error, counts = ?counts, "job ended")
        }
        None => tracing::info!(state = state.as_str(), counts = ?counts, "job ended"),
    }
    let took = job
        .started_at
        .zip(job.finished_at)
        .and_then(|(started, finished)| (finished - started).to_std().ok());
    // A dry run imported nothing: its rows are not counted as imported.
    crate::prometheus::job_ended(
        job.kind(),
        job.state(),
        if job.dry_run {
            0
        } else {
            job.total_imported_rows.unwrap_or(0)
        },
        job.total_error_rows.unwrap_or(0),
        took,
    );
    // Before the email (which may take a while) and before the upload goes. Only a run
    // reads its file again: an end without a lease (a cancel or a give-up between runs)
    // must not, or a file that kills workers would kill this one too.
    let cutter = match lease {
        Some(_) => Cutter::Run,
        None => Cutter::Outside,
    };
    unprocessed::keep_logged(&ctx.store, &job, cutter).await;
    send_report(ctx, &job).await;
    ctx.store.remove_upload(job_id).await;
    Ok(Some(job))
}

/// A delivery of a job that has already ended: only an error report that was never sent
/// (its sender died between claiming and sending) may still be owed, and the unprocessed
/// rows of a job that ended without running (cancelled while queued) are kept here.
pub(crate) async fn settle_ended(ctx: &WorkerContext, job: &JobRecord) {
    unprocessed::keep_logged(&ctx.store, job, Cutter::Outside).await;
    send_report(ctx, job).await;
    ctx.store.remove_upload(job.id).await;
}

/// Sends the error report when the job asked for one and nobody has sent it yet.
/// Email trouble never fails the import: it is recorded on the job instead.
async fn send_report(ctx: &WorkerContext, job: &JobRecord) {
    if !report::wanted(job) {
        return;
    }
    let to = match db::accounts::job_owner(&ctx.db, job.user_id).await {
        Ok(Some((email, _tenant))) => email,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not look up the uploader; no error email");
            return;
        }
    };
    match db::jobs::claim_email(&ctx.db, job.id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim the error email; not sending it");
            return;
        }
    }
    let attachment = match ctx
        .store
        .read_error_file(job.id, report::MAX_ATTACHMENT_BYTES)
        .await
    {
        Ok(content) => content,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the error file; sending the email without it");
            None
        }
    };
    let email = report::build(job, &to, ctx.settings.public_base(), attachment);
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
    crate::prometheus::email(outcome.is_ok());
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
