//! Makes the queue agree with Postgres, the only truth about jobs. Every worker runs it;
//! a transaction-scoped advisory lock lets one of them act per tick.
//!
//! Each tick it
//! - hands on `running` jobs whose lease lapsed (their worker died or lost Postgres):
//!   back to `queued`;
//! - enqueues `queued` jobs that are due and have no live task in Redis: never pushed
//!   (Redis was down at upload, or the API died between insert and push), lost (Redis
//!   restarted empty, failed over, evicted) or released for a retry after a backoff;
//! - removes files nobody will read: partial uploads of dead requests and uploads of
//!   ended jobs.
//!
//! Enqueueing twice is harmless by construction: a run must claim the job's lease first.

use std::{collections::HashMap, time::Duration};

use sqlx::PgPool;
use uuid::Uuid;

use super::queue::JobQueue;
use crate::{db, domain::JobState, storage::Store};

/// Any constant unique to this lock, shared by all workers.
const LOCK_KEY: i64 = 0x6261_7463_685f_7263; // "batch_rc"

/// Queued jobs enqueued per tick at most; the rest wait for the next one.
const BATCH: i64 = 500;

/// Jobs whose before-images one tick purges at most.
const PURGE_BATCH: i64 = 100;

/// How the reconciler behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReconcilerConfig {
    /// Time between ticks.
    pub interval: Duration,
    /// How long a pushed job may wait before its task is checked in Redis (covers the
    /// moment between an upload's insert and its push).
    pub grace: Duration,
    /// A partial upload not written to for this long belongs to a dead request; an
    /// upload without a job row this old was never recorded.
    pub stale_upload: Duration,
    /// `tenant_max_running`: a capped tenant's jobs are not pushed (see `due_for_enqueue`).
    pub tenant_max_running: u32,
    /// `revert_retention_days`: older jobs' before-images are purged.
    pub revert_retention_days: u32,
}

impl From<&crate::config::Settings> for ReconcilerConfig {
    fn from(settings: &crate::config::Settings) -> Self {
        Self {
            interval: Duration::from_secs(settings.reconcile_interval_secs.max(1)),
            grace: Duration::from_secs(settings.enqueue_grace_secs),
            stale_upload: Duration::from_secs(settings.stale_upload_secs),
            tenant_max_running: settings.tenant_max_running,
            revert_retention_days: settings.revert_retention_days,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tick {
    /// Running jobs whose lapsed lease sent them back to the queue.
    pub handed_on: u64,
    /// Queued jobs pushed to Redis again.
    pub enqueued: usize,
    /// Files removed.
    pub files_removed: usize,
    /// Jobs whose before-images were purged (older than `revert_retention_days`).
    pub changes_purged: u64,
}

/// Why a tick stopped early; the next one tries again.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    /// Postgres failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The uploads could not be listed.
    #[error("file store: {0}")]
    Store(#[from] crate::storage::StoreError),
}

/// Ticks until the task is aborted.
pub(crate) async fn run_forever(
    db: PgPool,
    queue: JobQueue,
    store: Store,
    config: ReconcilerConfig,
) {
    let mut interval = tokio::time::interval(config.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match tick(&db, &queue, &store, &config).await {
            Ok(t) if t == Tick::default() => {}
            Ok(t) => tracing::info!(
                handed_on = t.handed_on,
                enqueued = t.enqueued,
                files_removed = t.files_removed,
                changes_purged = t.changes_purged,
                "reconciled"
            ),
            Err(e) => tracing::warn!(error = %e, "reconciliation failed; retrying next tick"),
        }
    }
}

/// One pass; does nothing when another worker holds the lock.
pub(crate) async fn tick(
    db: &PgPool,
    queue: &JobQueue,
    store: &Store,
    config: &ReconcilerConfig,
) -> Result<Tick, ReconcileError> {
    let mut tx = db.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        LOCK_KEY
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(Tick::default());
    }
    let handed_on = db::jobs::expire_leases(&mut tx).await?;
    let mut enqueued = 0;
    for job in
        db::jobs::due_for_enqueue(&mut tx, config.grace, BATCH, config.tenant_max_running).await?
    {
        if job.pushed
            && let Some(task_id) = job.task_id
        {
            match queue.task_is_live(task_id).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the queue is unavailable; enqueueing later");
                    break;
                }
            }
        }
        let task_id = Uuid::new_v4();
        if let Err(e) = queue.enqueue(job.id, task_id).await {
            tracing::warn!(error = %e, "the queue is unavailable; enqueueing later");
            break;
        }
        db::jobs::mark_enqueued(&mut tx, job.id, task_id).await?;
        tracing::info!(job_id = %job.id, "job enqueued by the reconciler");
        enqueued += 1;
    }
    tx.commit().await?;
    let files_removed = sweep_files(db, store, config.stale_upload).await?;
    let changes_purged = db::reverts::purge(db, config.revert_retention_days, PURGE_BATCH).await?;
    Ok(Tick {
        handed_on,
        enqueued,
        files_removed,
        changes_purged,
    })
}

/// Removes partial uploads of dead requests, uploads of ended jobs, and uploads that
/// never got a job row (the API died between storing the file and recording the job).
pub(crate) async fn sweep_files(
    db: &PgPool,
    store: &Store,
    stale: Duration,
) -> Result<usize, ReconcileError> {
    let mut removed = store.sweep_partial_uploads(stale).await?;
    let uploads = store.stored_uploads().await?;
    if uploads.is_empty() {
        return Ok(removed);
    }
    let ids: Vec<Uuid> = uploads.iter().map(|u| u.job_id).collect();
    let states: HashMap<Uuid, String> = db::jobs::states_of(db, &ids).await?.into_iter().collect();
    for upload in uploads {
        let unneeded = match states.get(&upload.job_id) {
            // An unreadable state is left alone: only a known ended job loses its file.
            Some(state) => state.parse::<JobState>().is_ok_and(JobState::is_terminal),
            None => upload.idle >= stale,
        };
        if unneeded {
            // A job cancelled while queued whose task was lost never reaches a worker.
            if let Ok(Some(job)) = db::jobs::get(db, upload.job_id).await {
                super::unprocessed::keep_logged(store, &job, super::unprocessed::Cutter::Outside)
                    .await;
            }
            tracing::info!(job_id = %upload.job_id, "removing an upload nobody will import");
            store.remove_upload(upload.job_id).await;
            removed += 1;
        }
    }
    Ok(removed)
}
