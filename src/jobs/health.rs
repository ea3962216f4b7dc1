//! A worker's health: what an orchestrator probes to restart a stuck worker process and
//! to hold a rolling update until a new one works. A worker serves no other HTTP, so
//! with `WORKER_HEALTH_ADDR` set it answers on a small listener of its own:
//!
//! - `GET /healthz` (liveness): `200` while the queue loop turns, that is while apalis
//!   heartbeats (every `ORPHAN_TIMEOUT_SECS / 4`, also while every slot is busy with a long
//!   import); `503` once no heartbeat came for `ORPHAN_TIMEOUT_SECS` — when the other
//!   workers consider this one dead and take its tasks anyway — or after the loop stopped.
//!   Starting (migrations, connecting) and draining after SIGTERM count as alive: both are
//!   bounded by themselves, and a restart would only cut them short.
//! - `GET /readyz` (readiness): `200` while the loop runs and Postgres and Redis answer.

use std::{
    net::SocketAddr,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use apalis::prelude::Event;
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde_json::json;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::config::Settings;

/// How long one dependency check of `/readyz` may take; a probe's own timeout is longer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the worker process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    /// Connecting and migrating; the queue loop has not started.
    Starting,
    /// The queue loop runs.
    Running,
    /// Shutdown was requested: finishing the jobs in hand, taking no new ones.
    Stopping,
    /// The queue loop has ended; the process is about to exit.
    Stopped,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Starting,
            1 => Self::Running,
            2 => Self::Stopping,
            _ => Self::Stopped,
        }
    }
}

/// The worker's health, shared by its queue loop (which reports) and its health
/// listener (which answers). Cheap to clone.
#[derive(Clone)]
pub(crate) struct WorkerHealth {
    inner: Arc<Inner>,
}

struct Inner {
    phase: AtomicU8,
    origin: Instant,
    /// Milliseconds after `origin` of the latest sign that the queue loop turns.
    last_beat_ms: AtomicU64,
    stale_after: Duration,
    deps: OnceLock<Deps>,
}

/// What `/readyz` checks; known once the worker has connected.
struct Deps {
    db: sqlx::PgPool,
    redis: ConnectionManager,
}

/// The answer of `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Liveness {
    /// Whether the worker counts as alive.
    pub alive: bool,
    /// Where the worker is in its life.
    pub phase: Phase,
    /// Seconds since the queue loop last heartbeated (since the start before it did).
    pub seconds_since_heartbeat: f64,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Readiness {
    /// Whether the worker can take jobs now.
    pub ready: bool,
    /// Where the worker is in its life.
    pub phase: Phase,
    /// `"ok"` or why Postgres is unavailable (`"not checked"` before the worker started).
    pub postgres: String,
    /// `"ok"` or why Redis is unavailable (`"not checked"` before the worker started).
    pub redis: String,
}

impl WorkerHealth {
    /// A worker that is starting; it counts as dead once `stale_after` passes without a
    /// heartbeat while it runs.
    pub(crate) fn new(stale_after: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(Phase::Starting as u8),
                origin: Instant::now(),
                last_beat_ms: AtomicU64::new(0),
                stale_after,
                deps: OnceLock::new(),
            }),
        }
    }

    /// The health of a worker with these settings: stale after the queue's orphan timeout
    /// (heartbeat interval × missed heartbeats), when apalis hands its tasks to others.
    pub(crate) fn for_settings(settings: &Settings) -> Self {
        Self::new(super::queue::queue_config(settings).orphaned_duration())
    }

    /// The queue loop starts: readiness can now check `db` and `redis`.
    pub(crate) fn running(&self, db: sqlx::PgPool, redis: ConnectionManager) {
        let _ = self.inner.deps.set(Deps { db, redis });
        self.beat();
        self.set_phase(Phase::Running);
    }

    /// A worker event from apalis: a start, a heartbeat or a finished task all show that
    /// the loop turns.
    pub(crate) fn observe(&self, event: &Event) {
        match event {
            Event::Start | Event::HeartBeat | Event::Success(_) | Event::Error(_) => self.beat(),
            // Custom events, Stop and Exit (and kinds apalis may add) say nothing of the loop.
            _ => {}
        }
    }

    /// Shutdown was requested.
    pub(crate) fn stopping(&self) {
        self.set_phase(Phase::Stopping);
    }

    /// The queue loop has ended.
    pub(crate) fn stopped(&self) {
        self.set_phase(Phase::Stopped);
    }

    /// Where the worker is in its life.
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }

    /// Whether the worker counts as alive (see the module's documentation).
    pub(crate) fn liveness(&self) -> Liveness {
        let since = self.since_last_beat();
        let phase = self.phase();
        let alive = match phase {
            Phase::Starting | Phase::Stopping => true,
            Phase::Running => since <= self.inner.stale_after,
            Phase::Stopped => false,
        };
        Liveness {
            alive,
            phase,
            seconds_since_heartbeat: (since.as_secs_f64() * 10.0).round() / 10.0,
        }
    }

    /// Whether the worker can take jobs: it runs, is alive, and Postgres and Redis answer.
    pub(crate) async fn readiness(&self) -> Readiness {
        let phase = self.phase();
        let Some(deps) = self.inner.deps.get() else {
            return Readiness {
                ready: false,
                phase,
                postgres: "not checked".into(),
                redis: "not checked".into(),
            };
        };
        let postgres = async {
            match tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&deps.db))
                .await
            {
                Ok(Ok(_)) => "ok".to_owned(),
                Ok(Err(e)) => format!("unavailable ({e})"),
                Err(_) => "unavailable (no answer within 2 s)".to_owned(),
            }
        };
        let redis = async {
            let mut conn = deps.redis.clone();
            let ping = redis::cmd("PING");
            match tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => "ok".to_owned(),
                Ok(Err(e)) => format!("unavailable ({e})"),
                Err(_) => "unavailable (no answer within 2 s)".to_owned(),
            }
        };
        let (postgres, redis) = tokio::join!(postgres, redis);
        Readiness {
            ready: phase == Phase::Running
                && self.liveness().alive
                && postgres == "ok"
                && redis == "ok",
            phase,
            postgres,
            redis,
        }
    }

    fn beat(&self) {
        let ms = u64::try_from(self.inner.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.last_beat_ms.store(ms, Ordering::SeqCst);
    }

    fn since_last_beat(&self) -> Duration {
        let beat = Duration::from_millis(self.inner.last_beat_ms.load(Ordering::SeqCst));
        self.inner.origin.elapsed().saturating_sub(beat)
    }

    fn set_phase(&self, phase: Phase) {
        self.inner.phase.store(phase as u8, Ordering::SeqCst);
    }
}

/// Binds `addr` (port 0 picks a free port) and serves the health routes on it until the
/// returned task is aborted.
pub(crate) async fn serve(
    addr: SocketAddr,
    health: WorkerHealth,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "worker health listener stopped");
        }
    });
    Ok((local, task))
}

/// JSend: `success` with the data when healthy, `error` (503) with a message and the data.
fn answer<T: Serialize>(ok: bool, data: T, message: &str) -> Response {
    if ok {
        Json(json!({ "status": "success", "data": data })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "message": message, "data": data })),
        )
            .into_response()
    }
}

async fn healthz(State(health): State<WorkerHealth>) -> Response {
    let liveness = health.liveness();
    let message = match liveness.phase {
        Phase::Stopped => "the worker's queue loop has stopped",
        _ => "the worker's queue loop has not heartbeated for the orphan timeout",
    };
    answer(liveness.alive, liveness, message)
}

async fn readyz(State(health): State<WorkerHealth>) -> Response {
    let readiness = health.readiness().await;
    answer(
        readiness.ready,
        readiness,
        "the worker cannot take jobs now (see phase, postgres and redis)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_and_stopping_count_as_alive_and_stopped_does_not() {
        let health = WorkerHealth::new(Duration::from_secs(60));
        assert_eq!(health.phase(), Phase::Starting);
        assert!(health.liveness().alive);
        health.stopping();
        assert!(health.liveness().alive);
        health.stopped();
        assert!(!health.liveness().alive);
        assert_eq!(health.liveness().phase, Phase::Stopped);
    }

    #[tokio::test]
    async fn a_running_worker_without_heartbeats_goes_stale_and_a_heartbeat_revives_it() {
        let health = WorkerHealth::new(Duration::from_millis(150));
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://127.0.0.1:1/none")
            .unwrap();
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let redis = ConnectionManager::new_lazy_with_config(client, Default::default()).unwrap();
        health.running(db, redis);
        assert!(health.liveness().alive, "{:?}", health.liveness());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!health.liveness().alive, "{:?}", health.liveness());
        health.observe(&Event::Custom(Box::new(())));
        assert!(!health.liveness().alive, "a custom event is no heartbeat");
        health.observe(&Event::HeartBeat);
        assert!(health.liveness().alive, "{:?}", health.liveness());
    }

    #[tokio::test]
    async fn readiness_reports_what_does_not_answer() {
        let health = WorkerHealth::new(Duration::from_secs(60));
        let before = health.readiness().await;
        assert!(!before.ready);
        assert_eq!(before.postgres, "not checked");

        let db = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://127.0.0.1:1/none")
            .unwrap();
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(0);
        let redis = ConnectionManager::new_lazy_with_config(client, config).unwrap();
        health.running(db, redis);
        let readiness = health.readiness().await;
        assert!(!readiness.ready);
        assert_eq!(readiness.phase, Phase::Running);
        assert!(
            readiness.postgres.starts_with("unavailable"),
            "{readiness:?}"
        );
        assert!(readiness.redis.starts_with("unavailable"), "{readiness:?}");
    }

    #[tokio::test]
    async fn the_listener_answers_503_with_jsend_when_unhealthy() {
        let health = WorkerHealth::new(Duration::from_secs(60));
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), health.clone())
            .await
            .unwrap();
        let get = |path: &'static str| async move {
            let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        };
        // Starting: alive, not ready.
        let (status, body) = get("/healthz").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("success")));
        assert_eq!(body["data"]["phase"], "starting");
        let (status, body) = get("/readyz").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (503, Some("error")),
            "{body}"
        );
        assert_eq!(body["data"]["postgres"], "not checked");
        // Stopped: dead.
        health.stopped();
        let (status, body) = get("/healthz").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["data"]["alive"], false);
        assert!(
            body["message"].as_str().unwrap().contains("stopped"),
            "{body}"
        );
        task.abort();
    }
}
