//! A worker process: pulls import tasks from Redis and runs them, `worker_concurrency`
//! at a time, until shut down.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use apalis::{
    layers::retry::{
        HasherRng, RetryPolicy,
        backoff::{ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};
use apalis_core::error::{AbortError, BoxDynError};
use apalis_redis::{Config, RedisStorage};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use super::{
    queue::{self, ImportTask},
    runner::{self, RunError, WorkerContext},
};
use crate::{config::Settings, startup::StartupError};

/// Why a worker process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// It could not start.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The queue failed in a way the workers could not recover from.
    #[error("job queue: {0}")]
    Monitor(String),
    /// Every worker ended although nobody asked them to (Redis lost, for instance);
    /// exiting lets the supervisor start a fresh process.
    #[error("all workers stopped without a shutdown request")]
    WorkersDied,
}

/// How many times apalis may rebuild a dead worker (e.g. after a Redis restart) before
/// the process gives up and exits non-zero.
const MAX_WORKER_RESTARTS: usize = 20;

/// Runs a worker until `shutdown` resolves; in-flight jobs finish first.
pub async fn run(
    settings: Settings,
    migrate: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let ctx = crate::startup::worker_context(settings, migrate).await?;
    let settings = ctx.settings.clone();
    let conn = queue::connect(&settings.redis_url)
        .await
        .map_err(StartupError::from)?;
    let config = queue::queue_config(&settings);
    // Without polling an idle worker only looks for new tasks on its heartbeat.
    let backend = RedisStorage::<ImportTask>::new(conn.clone())
        .with_config(config.clone())
        .poll_with_interval(Duration::from_millis(200));
    let backoff = ExponentialBackoffMaker::new(
        Duration::from_millis(500),
        Duration::from_secs(30),
        0.5,
        HasherRng::default(),
    )
    .map_err(|e| WorkerError::Monitor(e.to_string()))?
    .make_backoff();
    let concurrency = settings.worker_concurrency.max(1);

    let monitor = Monitor::new()
        .register(move |restarts| {
            // A fresh name for every start: apalis refuses a name that heartbeated recently.
            let name = format!("worker-{}", Uuid::new_v4());
            tracing::info!(worker = %name, restarts, concurrency, "worker registered");
            WorkerBuilder::new(name)
                .backend(backend.clone())
                .data(ctx.clone())
                .concurrency(concurrency)
                .retry(RetryPolicy::retries(2).with_backoff(backoff.clone()))
                .parallelize(tokio::spawn)
                .build(handle)
        })
        .should_restart(|worker, error| {
            tracing::error!(worker = worker.name(), %error, restarts = worker.restarts(), "worker died");
            worker.restarts() < MAX_WORKER_RESTARTS
        });

    let requested = Arc::new(AtomicBool::new(false));
    let monitor_ctx = monitor.context();
    {
        let requested = requested.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("stopping: finishing the jobs in hand");
            requested.store(true, Ordering::SeqCst);
            let _ = monitor_ctx.shutdown();
        });
    }
    let vacuum = tokio::spawn(vacuum_forever(conn, config));
    let result = monitor.run().await;
    vacuum.abort();
    match result {
        Err(e) => Err(WorkerError::Monitor(e.to_string())),
        Ok(()) if requested.load(Ordering::SeqCst) => {
            tracing::info!("worker stopped");
            Ok(())
        }
        Ok(()) => Err(WorkerError::WorkersDied),
    }
}

/// The apalis handler: runs the job; a failure that retrying cannot fix is an
/// `AbortError`, the only kind the Redis backend does not reschedule.
async fn handle(task: ImportTask, ctx: Data<WorkerContext>) -> Result<(), BoxDynError> {
    match runner::execute(&ctx, task.job_id).await {
        Ok(()) => Ok(()),
        Err(RunError::Final(message)) => Err(AbortError::new(message).into()),
        Err(RunError::Transient(message)) => Err(message.into()),
    }
}

/// Removes finished tasks from Redis now and then. apalis' own `vacuum()` also deletes
/// failed tasks still waiting for a retry, so only the done and dead sets are emptied.
async fn vacuum_forever(mut conn: ConnectionManager, config: Config) {
    let script = redis::Script::new(
        r"
        local n = 0
        for s = 3, 4 do
          local ids = redis.call('SPOP', KEYS[s], 1000)
          for _, id in ipairs(ids) do
            redis.call('HDEL', KEYS[1], id)
            redis.call('DEL', KEYS[2] .. ':' .. id)
            n = n + 1
          end
        end
        return n",
    );
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        let removed: Result<usize, _> = script
            .key(config.job_data_hash())
            .key(config.job_meta_hash())
            .key(config.done_jobs_set())
            .key(config.dead_jobs_set())
            .invoke_async(&mut conn)
            .await;
        match removed {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "vacuumed finished tasks"),
            Err(e) => tracing::warn!(error = %e, "vacuum failed"),
        }
    }
}
