//! Reverts (`POST /jobs/{id}/revert`): a job's changes undone by a new job of the same
//! kind, the *revert job*, run by the workers like any job (see `import::revert`).
//!
//! A job is reverted once: a second revert, a revert of a revert and a revert of a dry
//! run are refused, as is one of a job whose kept changes are gone (purged after
//! `REVERT_RETENTION_DAYS`, or never kept: jobs from before undo existed). A revert that
//! failed or was cancelled may be asked for again; the new one does what is left.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    corrections::suffixed_name,
    queue::JobQueue,
    submit::{self, SubmitError},
};
use crate::db::{
    self,
    jobs::{JobRecord, NewJob},
    schedule::QueueFull,
};

/// Appended to the reverted job's name to name its revert.
const NAME_SUFFIX: &str = " (undo)";

/// Why a revert was refused; nothing was kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevertError {
    /// The job is still queued or running: what it changed is not known yet.
    #[error("job {id} is still {state}: it can be reverted once it has ended")]
    NotEnded {
        /// The job.
        id: Uuid,
        /// Its state.
        state: &'static str,
    },
    /// The job is itself a revert.
    #[error(
        "job {id} is a revert (of job {reverts}); a revert cannot be reverted: import the \
         file of job {reverts} again instead"
    )]
    IsRevert {
        /// The job.
        id: Uuid,
        /// The job it reverted.
        reverts: Uuid,
    },
    /// The job was a dry run.
    #[error("job {id} was a dry run (validate_only): it changed nothing to revert")]
    DryRun {
        /// The job.
        id: Uuid,
    },
    /// The job has a revert already.
    #[error("job {id} is reverted already, by job {by}: a job is reverted once")]
    Reverted {
        /// The job.
        id: Uuid,
        /// Its revert.
        by: Uuid,
    },
    /// The job ran before undo existed and kept nothing.
    #[error("job {id} ran before undo existed: the values it overwrote were not kept")]
    NotKept {
        /// The job.
        id: Uuid,
    },
    /// The job's kept changes are gone.
    #[error(
        "job {id} ended on {ended}: the values it overwrote are kept for {days} days after \
         a job ends (REVERT_RETENTION_DAYS) and were purged, so it can no longer be reverted"
    )]
    Expired {
        /// The job.
        id: Uuid,
        /// When it ended.
        ended: DateTime<Utc>,
        /// The retention.
        days: u32,
    },
    /// The tenant has `tenant_max_queued` jobs queued; nothing was recorded.
    #[error("the tenant's queue is full ({} jobs)", .0.limit)]
    QueueFull(QueueFull),
    /// Postgres failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a revert is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RevertOptions {
    /// Count what it would do and change nothing.
    pub dry_run: bool,
    /// Email the report of its conflicts; the reverted job's choice when `None`.
    pub send_error_email: Option<bool>,
}

/// Where a revert goes.
pub(crate) struct Services<'a> {
    /// Postgres.
    pub db: &'a PgPool,
    /// The job queue.
    pub queue: &'a JobQueue,
    /// `tenant_max_queued`.
    pub max_queued: u32,
    /// `revert_retention_days`.
    pub retention_days: u32,
}

/// Checks that `job` may be reverted and submits its revert job, made by `user_id`;
/// returns the new job (queued).
pub(crate) async fn submit(
    services: &Services<'_>,
    job: &JobRecord,
    user_id: Uuid,
    options: RevertOptions,
) -> Result<JobRecord, RevertError> {
    check(services, job).await?;
    if !options.dry_run
        && let Some(by) = db::reverts::active_of(services.db, job.id).await?
    {
        return Err(RevertError::Reverted { id: job.id, by });
    }
    let new_job = NewJob {
        id: Uuid::new_v4(),
        tenant_id: job.tenant_id,
        user_id,
        kind: job.kind(),
        file_name: format!("undo of {}", job.file_name),
        name: job
            .name
            .as_deref()
            .map(|name| suffixed_name(name, NAME_SUFFIX)),
        // The work to do: a revert job's progress counts rows, not bytes.
        file_size: job.created_rows.unwrap_or(0) + job.updated_rows.unwrap_or(0),
        column_mapping: None,
        sheet: None,
        send_error_email: options.send_error_email.unwrap_or(job.send_error_email),
        dry_run: options.dry_run,
        idempotency_key: None,
        file_sha256: None,
        parent_job_id: None,
        reverts_job_id: Some(job.id),
    };
    match submit::submit(services.db, services.queue, &new_job, services.max_queued).await {
        Ok(record) => Ok(record),
        Err(SubmitError::Database(e)) if db::reverts::is_second_revert(&e) => {
            // Another request made the revert between our look and our insert.
            let by = db::reverts::active_of(services.db, job.id)
                .await?
                .unwrap_or_default();
            Err(RevertError::Reverted { id: job.id, by })
        }
        Err(SubmitError::QueueFull(full)) => Err(RevertError::QueueFull(full)),
        Err(SubmitError::Database(e)) => Err(e.into()),
    }
}

/// The refusals that the job alone decides.
async fn check(services: &Services<'_>, job: &JobRecord) -> Result<(), RevertError> {
    let state = job.state();
    if !state.is_terminal() {
        return Err(RevertError::NotEnded {
            id: job.id,
            state: state.as_str(),
        });
    }
    if let Some(reverts) = job.reverts_job_id {
        return Err(RevertError::IsRevert {
            id: job.id,
            reverts,
        });
    }
    if job.dry_run {
        return Err(RevertError::DryRun { id: job.id });
    }
    if !job.changes_kept {
        return Err(RevertError::NotKept { id: job.id });
    }
    let ended = job.finished_at.unwrap_or(job.created_at);
    let expired = ended + Duration::days(i64::from(services.retention_days)) < Utc::now();
    if job.changes_purged_at.is_some() || expired {
        return Err(RevertError::Expired {
            id: job.id,
            ended,
            days: services.retention_days,
        });
    }
    Ok(())
}
