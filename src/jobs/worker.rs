//! A worker process: pulls import tasks from Redis and runs them, `worker_concurrency`
//! at a time, until shut down. It also runs the reconciler and the webhook deliveries.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use apalis::prelude::*;
use apalis_core::{backend::ext::poll_strategy::Strategy, error::BoxDynError};
use apalis_redis::{Config, RedisStorage};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use super::{
    health::WorkerHealth,
    queue::{self, ImportTask, JobQueue},
    reconciler::{self, ReconcilerConfig},
    runner::{self, WorkerContext},
    wake::{self, WakeSignal},
};

/// Why a worker process stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Redis could not be reached at start.
    #[error(transparent)]
    Queue(#[from] queue::QueueError),
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

/// Runs a worker until `shutdown` resolves; in-flight jobs finish first, for at most
/// `worker_shutdown_timeout_secs`. Besides the queue consumers it runs the reconciler and
/// the vacuum of finished tasks. It reports how its queue loop fares to `health`.
pub(crate) async fn run(
    ctx: WorkerContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
    health: WorkerHealth,
) -> Result<(), WorkerError> {
    let settings = ctx.settings.clone();
    let conn = queue::connect(&settings.redis_url).await?;
    health.running(ctx.db.clone(), conn.clone());
    let config = queue::queue_config(&settings);
    // An idle worker looks for tasks when a push is announced (Redis pub/sub, see
    // `wake`) and, as a fallback for a lost message, every `worker_poll_interval_ms`.
    // Without either it would only look on its heartbeat.
    let woken = WakeSignal::default();
    let listener = tokio::spawn(wake::listen_forever(
        settings.redis_url.clone(),
        wake::channel(&config),
        woken.clone(),
    ));
    let backend = RedisStorage::<ImportTask>::new(conn.clone())
        .with_config(config.clone())
        .poll_with_strategy(
            Strategy::new()
                .stream(woken)
                .interval(Duration::from_millis(
                    settings.worker_poll_interval_ms.max(1),
                )),
        );
    let concurrency = settings.worker_concurrency.max(1);
    let reconciler = tokio::spawn(reconciler::run_forever(
        ctx.db.clone(),
        JobQueue::with_connection(conn.clone(), &settings),
        ctx.store.clone(),
        ReconcilerConfig::from(settings.as_ref()),
    ));

    let deliveries = tokio::spawn(crate::webhooks::delivery::run_forever(
        ctx.db.clone(),
        crate::webhooks::delivery::DeliveryConfig::from(settings.as_ref()),
    ));

    let stop = ctx.stop.clone();
    let monitor = Monitor::new()
        .on_event({
            let health = health.clone();
            move |_worker, event| health.observe(event)
        })
        .register(move |restarts| {
            // A fresh name for every start: apalis refuses a name that heartbeated recently.
            let name = format!("worker-{}", Uuid::new_v4());
            tracing::info!(worker = %name, restarts, concurrency, "worker registered");
            // No retry layer: the job's row holds the one retry counter (see `runner`).
            WorkerBuilder::new(name)
                .backend(backend.clone())
                .data(ctx.clone())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .build(handle)
        })
        .should_restart(|worker, error| {
            tracing::error!(worker = worker.name(), %error, restarts = worker.restarts(), "worker died");
            worker.restarts() < MAX_WORKER_RESTARTS
        });

    let requested = Arc::new(AtomicBool::new(false));
    let drain_started = Arc::new(tokio::sync::Notify::new());
    let monitor_ctx = monitor.context();
    {
        let requested = requested.clone();
        let drain_started = drain_started.clone();
        let health = health.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("stopping: finishing the jobs in hand");
            requested.store(true, Ordering::SeqCst);
            stop.request();
            health.stopping();
            let _ = monitor_ctx.shutdown();
            drain_started.notify_one();
        });
    }
    // The drain is bounded so that the process exits before an orchestrator's grace period
    // ends in a SIGKILL; a job cut short keeps no lease once it lapses, and the reconciler
    // hands it to another worker (that run counts as an attempt).
    let drain_limit = Duration::from_secs(settings.worker_shutdown_timeout_secs);
    let drain_expired = async {
        drain_started.notified().await;
        tokio::time::sleep(drain_limit).await;
    };
    let vacuum = tokio::spawn(vacuum_forever(conn, config));
    let result = tokio::select! {
        result = monitor.run() => result,
        () = drain_expired => {
            tracing::warn!(
                timeout_secs = drain_limit.as_secs(),
                "jobs still running at the shutdown timeout are abandoned; other workers re-run them once their leases lapse"
            );
            Ok(())
        }
    };
    health.stopped();
    vacuum.abort();
    listener.abort();
    reconciler.abort();
    // A delivery cut short here stays claimed until its lease lapses, then is sent again.
    deliveries.abort();
    match result {
        Err(e) => Err(WorkerError::Monitor(e.to_string())),
        Ok(()) if requested.load(Ordering::SeqCst) => {
            tracing::info!("worker stopped");
            Ok(())
        }
        Ok(()) => Err(WorkerError::WorkersDied),
    }
}

/// The apalis handler: runs the delivery and always acknowledges it. What happened is
/// on the job's row; a job to be run again is enqueued anew by the reconciler.
async fn handle(task: ImportTask, ctx: Data<WorkerContext>) -> Result<(), BoxDynError> {
    runner::execute(&ctx, task.job_id).await;
    Ok(())
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
