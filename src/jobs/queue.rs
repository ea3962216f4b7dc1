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
pub struct ImportTask {
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
pub async fn connect(redis_url: &str) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(redis_url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(6)
        .set_max_delay(Duration::from_secs(2));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

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

/// The producer side, used by the API: clone it freely (it is a connection handle).
#[derive(Clone)]
pub struct JobQueue {
    storage: RedisStorage<ImportTask>,
    conn: ConnectionManager,
}

impl JobQueue {
    /// Connects to `settings.redis_url`.
    pub async fn connect(settings: &Settings) -> Result<Self, QueueError> {
        let conn = connect(&settings.redis_url).await?;
        let storage = RedisStorage::new(conn.clone()).with_config(queue_config(settings));
        Ok(Self { storage, conn })
    }

    /// Enqueues a job; the task id is the job id, so the two can be matched in Redis.
    pub async fn enqueue(&self, job_id: Uuid) -> Result<(), QueueError> {
        let mut storage = self.storage.clone();
        let task = TaskBuilder::new(ImportTask { job_id })
            .task_id(TaskId::from_string(job_id.to_string()))
            .build();
        storage
            .push_task(task)
            .await
            .map_err(|e| QueueError::Push(e.to_string()))
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
