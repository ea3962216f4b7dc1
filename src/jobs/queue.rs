//! The Redis queue (apalis-redis). Only the job id travels through Redis; everything
//! else is read from the job's row in Postgres, the source of truth.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{Config, RedisStorage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Settings;

/// The message a worker receives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImportTask {
    /// The `import_jobs` row to run.
    pub job_id: Uuid,
}

/// Why the queue could not be reached or written.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis refused or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// apalis could not push the task.
    #[error("could not enqueue: {0}")]
    Push(String),
}

/// Connects to Redis with timeouts that tolerate a busy server: redis' default 500 ms
/// response timeout (kept by `apalis_redis::connect`) makes a short stall kill a worker.
pub(crate) async fn connect(redis_url: &str) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(redis_url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(6)
        .set_max_delay(Duration::from_secs(2));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// The producer's connection: made on first use, so that the API starts and takes
/// uploads while Redis is down, and quick to give up, so that an upload never waits
/// long for a queue the reconciler will fill later anyway. It reconnects by itself on
/// the first use after a broken connection.
fn connect_lazily(redis_url: &str) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(redis_url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// Pushes after a broken connection fail once while the manager reconnects; a few
/// quick attempts ride that out without holding an upload for long.
const PUSH_ATTEMPTS: u32 = 3;

/// The queue's apalis configuration, shared by producers and workers.
///
/// A silent worker's jobs go back to the queue after `heartbeat × missed heartbeats`
/// (about `orphan_timeout_secs`); apalis' default of 30 s × 10 would be five minutes.
/// One task per fetch lets idle workers take what a busy one has not started.
pub fn queue_config(settings: &Settings) -> Config {
    const MISSED_HEARTBEATS: u64 = 4;
    let heartbeat = (settings.orphan_timeout_secs / MISSED_HEARTBEATS).max(1);
    Config::default()
        .queue(&settings.queue_namespace)
        .batch_size(1)
        .heartbeat_interval(Duration::from_secs(heartbeat))
        .missed_heartbeats(MISSED_HEARTBEATS as usize)
}

/// The producer side, used by the API and the reconciler: clone it freely (it is a
/// connection handle).
#[derive(Clone)]
pub struct JobQueue {
    storage: RedisStorage<ImportTask>,
    conn: ConnectionManager,
    config: Config,
}

impl JobQueue {
    /// A queue on `settings.redis_url` that connects on first use (see `connect_lazily`).
    pub fn lazy(settings: &Settings) -> Result<Self, QueueError> {
        Ok(Self::with_connection(
            connect_lazily(&settings.redis_url)?,
            settings,
        ))
    }

    /// A queue on an established connection.
    pub(crate) fn with_connection(conn: ConnectionManager, settings: &Settings) -> Self {
        let config = queue_config(settings);
        let storage = RedisStorage::new(conn.clone()).with_config(config.clone());
        Self {
            storage,
            conn,
            config,
        }
    }

    /// Pushes a task carrying `job_id` with the given task id. Every push gets a new
    /// task id: apalis ignores a push whose id it still holds data for.
    pub async fn enqueue(&self, job_id: Uuid, task_id: Uuid) -> Result<(), QueueError> {
        let mut attempt = 1;
        loop {
            let mut storage = self.storage.clone();
            let task = TaskBuilder::new(ImportTask { job_id })
                .task_id(TaskId::from_string(task_id.to_string()))
                .build();
            match storage.push_task(task).await {
                Ok(()) => {
                    self.wake_workers(job_id).await;
                    return Ok(());
                }
                Err(e) if attempt < PUSH_ATTEMPTS => {
                    tracing::debug!(%job_id, error = %e, attempt, "push failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => return Err(QueueError::Push(e.to_string())),
            }
        }
    }

    /// Tells idle workers that a task waits (see `wake`). apalis files every push under
    /// its scheduled set (due at once), where workers only find it when they next look,
    /// and publishes nothing for it; so the producer announces it. Best effort: a lost
    /// message only means the task is found by the workers' fallback poll.
    async fn wake_workers(&self, job_id: Uuid) {
        let mut conn = self.conn.clone();
        let published: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(super::wake::channel(&self.config))
            .arg(job_id.to_string())
            .query_async(&mut conn)
            .await;
        if let Err(e) = published {
            tracing::debug!(%job_id, error = %e, "could not wake the workers; they will poll");
        }
    }

    /// Whether the task is still waiting or running in Redis. False when Redis lost it
    /// (restart without persistence, failover, eviction) or it has finished.
    pub(crate) async fn task_is_live(&self, task_id: Uuid) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let id = task_id.to_string();
        let (exists, status): (bool, Option<String>) = redis::pipe()
            .hexists(self.config.job_data_hash(), &id)
            .hget(format!("{}:{id}", self.config.job_meta_hash()), "status")
            .query_async(&mut conn)
            .await?;
        Ok(exists && !matches!(status.as_deref(), Some("Done" | "Killed" | "Failed")))
    }

    /// Tasks waiting in Redis: queued now or scheduled for later.
    pub(crate) async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let (active, scheduled): (u64, u64) = redis::pipe()
            .llen(self.config.active_jobs_list())
            .zcard(self.config.scheduled_jobs_set())
            .query_async(&mut conn)
            .await?;
        Ok(active + scheduled)
    }

    /// Checks that Redis answers (once more after a reconnect).
    pub(crate) async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let first: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        if first.is_err() {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        }
        Ok(())
    }
}
