//! Turning a stored upload into a queued job — and never into a dangling one.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use super::queue::JobQueue;
use crate::db::{
    self,
    jobs::{JobRecord, NewJob},
    schedule::{Admission, QueueFull},
};

/// Why an upload did not become a job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The tenant has `tenant_max_queued` jobs queued; nothing was recorded.
    #[error("the tenant's queue is full ({} jobs)", .0.limit)]
    QueueFull(QueueFull),
    /// Recording the job failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Records the job (queued) and then enqueues it: the row exists before a worker can see
/// the task. Postgres is the truth: when Redis cannot take the task now (down, or the
/// API dies right here), the job stays queued and the reconciler enqueues it once Redis
/// answers. Redis being down delays imports; it does not refuse them. Only a failed
/// insert is an error, or a tenant with `max_queued` jobs queued already (0: no limit);
/// the caller then removes the upload.
pub(crate) async fn submit(
    db: &PgPool,
    queue: &JobQueue,
    job: &NewJob,
    max_queued: u32,
) -> Result<JobRecord, SubmitError> {
    let task_id = Uuid::new_v4();
    let record = match db::schedule::admit(db, job, task_id, max_queued).await? {
        Admission::Admitted(record) => *record,
        Admission::Refused(full) => return Err(SubmitError::QueueFull(full)),
    };
    match queue.enqueue(job.id, task_id).await {
        Ok(()) => {
            tracing::info!(job_id = %job.id, kind = job.kind.as_str(), size = job.file_size, "upload queued")
        }
        Err(e) => tracing::warn!(
            job_id = %job.id, error = %e,
            "the queue is unavailable; the job stays queued and is enqueued once it is back"
        ),
    }
    Ok(record)
}

/// Polls the job until it is terminal or `timeout` passes; returns it as it then is.
pub(crate) async fn wait_until_finished(
    db: &PgPool,
    mut job: JobRecord,
    timeout: Duration,
) -> Result<JobRecord, sqlx::Error> {
    let deadline = Instant::now() + timeout;
    while !job.state().is_terminal() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        job = db::jobs::get(db, job.id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
    }
    Ok(job)
}
