//! Turning a stored upload into a queued job — and never into a dangling one.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::queue::JobQueue;
use crate::{
    db::{
        self,
        jobs::{JobRecord, NewJob},
    },
    storage::FileStore,
};

/// Why an upload could not become a queued job. Its file is removed either way.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The job row could not be written.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Redis refused the task; the job row says `failed` with this reason.
    #[error("the job could not be queued: {0}")]
    Queue(String),
}

/// Records the job (queued) and then enqueues it: the row exists before a worker can see
/// the task. When the enqueue fails the job is marked failed at once.
pub async fn submit(
    db: &PgPool,
    queue: &JobQueue,
    store: &FileStore,
    job: &NewJob,
) -> Result<JobRecord, SubmitError> {
    let record = match db::jobs::insert(db, job).await {
        Ok(record) => record,
        Err(e) => {
            store.remove_upload(job.id).await;
            return Err(e.into());
        }
    };
    if let Err(e) = queue.enqueue(job.id).await {
        tracing::error!(job_id = %job.id, error = %e, "could not enqueue the job");
        let error = SubmitError::Queue(e.to_string());
        db::jobs::fail(db, job.id, &error.to_string()).await?;
        store.remove_upload(job.id).await;
        return Err(error);
    }
    tracing::info!(job_id = %job.id, kind = job.kind.as_str(), size = job.file_size, "upload queued");
    Ok(record)
}

/// Polls the job until it is terminal or `timeout` passes; returns it as it then is.
pub async fn wait_until_finished(
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
