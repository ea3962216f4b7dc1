//! Wiring: builds the API server and the worker from `Settings`, for the binary and tests.

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{
    api::{self, AppState},
    config::Settings,
    db,
    jobs::{WorkerContext, health::WorkerHealth, queue::JobQueue},
    mail::{EmailClient, MailError},
    storage::{Store, StoreError},
};

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Postgres could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Redis could not be reached.
    #[error("job queue: {0}")]
    Queue(#[from] crate::jobs::queue::QueueError),
    /// The SMTP settings are invalid.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    /// Files or sockets.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The file store (`STORAGE_DIR` / `STORAGE_URL`) cannot be used.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// `BOOTSTRAP_ADMIN` is not `tenant:email`.
    #[error("BOOTSTRAP_ADMIN: {0}")]
    Bootstrap(String),
    /// `TRUSTED_PROXIES` holds something that is not an address or CIDR network.
    #[error("TRUSTED_PROXIES: {0}")]
    TrustedProxies(#[from] api::client_addr::CidrError),
}

/// The Postgres pool size of an API process.
pub const API_DB_CONNECTIONS: u32 = 20;

/// The Postgres pool size of a worker process: the writers of every job it runs at once,
/// plus two for progress and lease updates, the reconciler and the webhook deliveries.
pub fn worker_db_connections(settings: &Settings) -> u32 {
    (settings.worker_concurrency * settings.import_writers.max(1)) as u32 + 2
}

/// Opens the pool and, when `migrate` is set, creates the database and applies migrations.
pub async fn database(
    settings: &Settings,
    max_connections: u32,
    migrate: bool,
) -> Result<sqlx::PgPool, StartupError> {
    let pool = db::pool(&settings.database_url, max_connections)?;
    if migrate {
        db::migrate(&settings.database_url, &pool).await?;
    }
    Ok(pool)
}

/// The HTTP API, bound and ready to serve.
pub struct ApiServer {
    listener: TcpListener,
    router: Router,
    limits: api::serve::ConnectionLimits,
    /// `api_metrics_addr`'s listener and router, when metrics are served apart.
    metrics: Option<(TcpListener, Router)>,
    edge: Arc<api::edge::Edge>,
}

impl ApiServer {
    /// Binds `settings.listen_addr` (port 0 picks a free port) and builds the router.
    pub async fn build(settings: Settings, migrate: bool) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(settings.listen_addr).await?;
        Self::with_listener(listener, settings, migrate).await
    }

    /// Uses an already bound listener (tests bind first to learn the port).
    pub async fn with_listener(
        listener: TcpListener,
        settings: Settings,
        migrate: bool,
    ) -> Result<Self, StartupError> {
        crate::prometheus::handle();
        let db = database(&settings, API_DB_CONNECTIONS, migrate).await?;
        if let Some(spec) = &settings.bootstrap_admin {
            bootstrap_admin(&db, spec).await?;
        }
        let store = open_store(&settings).await?;
        // Partial files of requests that died with an earlier process.
        let stale = std::time::Duration::from_secs(settings.stale_upload_secs);
        match store.sweep_partial_uploads(stale).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed abandoned partial uploads"),
            Err(e) => tracing::warn!(error = %e, "could not sweep partial uploads"),
        }
        let queue = JobQueue::lazy(&settings)?;
        let edge = Arc::new(api::edge::Edge::new(&settings)?);
        let metrics_listener = match settings.api_metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let limits = settings.connection_limits();
        let state = AppState {
            db,
            queue,
            store,
            rate_limiter: Arc::new(api::rate_limit::KeyRateLimiter::new(
                settings.rate_limit_rps,
                settings.rate_limit_burst,
            )),
            settings: Arc::new(settings),
            edge: Arc::clone(&edge),
        };
        let metrics =
            metrics_listener.map(|listener| (listener, api::metrics_router(state.clone())));
        Ok(Self {
            listener,
            router: api::router(state),
            limits,
            metrics,
            edge,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            limits,
            metrics,
            edge,
        } = self;
        let metrics = metrics.map(|(listener, router)| {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::warn!(error = %e, "API metrics listener stopped");
                }
            })
        });
        // Addresses whose failed authentications are all forgiven are forgotten.
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                edge.auth_failures.retain_recent();
            }
        });
        api::serve::serve(listener, router, limits, shutdown).await;
        sweeper.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        Ok(())
    }
}

/// On a new installation (no API key yet) creates the admin `tenant:email` and prints its
/// key once in the log, so that a first `docker compose up` can be used at once.
async fn bootstrap_admin(db: &sqlx::PgPool, spec: &str) -> Result<(), StartupError> {
    let (tenant, email) = spec
        .split_once(':')
        .ok_or_else(|| StartupError::Bootstrap(format!("{spec:?} is not tenant:email")))?;
    let slug = crate::domain::TenantSlug::parse(tenant.trim()).map_err(StartupError::Bootstrap)?;
    let email = email.trim();
    if !email_address::EmailAddress::is_valid(email) {
        return Err(StartupError::Bootstrap(format!(
            "{email:?} is not an email address"
        )));
    }
    if let Some(key) = db::accounts::create_first_admin(db, &slug, email).await? {
        tracing::warn!(
            tenant = slug.as_str(),
            email,
            key = key.expose(),
            "created the first admin key; it is shown only this once, keep it"
        );
    }
    Ok(())
}

/// Everything a worker process needs, built from the settings.
pub async fn worker_context(
    settings: Settings,
    migrate: bool,
) -> Result<WorkerContext, StartupError> {
    let db = database(&settings, worker_db_connections(&settings), migrate).await?;
    let store = open_store(&settings).await?;
    let mailer = EmailClient::new(&settings.smtp_url, &settings.mail_from)?;
    Ok(WorkerContext {
        db,
        store,
        mailer,
        settings: Arc::new(settings),
        worker_name: format!(
            "pid{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        ),
        stop: Default::default(),
    })
}

/// The store `STORAGE_URL` (or `STORAGE_DIR`) names.
async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let store = Store::open(settings.storage_url.as_deref(), &settings.storage_dir).await?;
    tracing::debug!(backend = store.kind(), "file store opened");
    Ok(store)
}

/// Why a worker process stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerRunError {
    /// It could not start.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// It failed while running.
    #[error(transparent)]
    Worker(#[from] crate::jobs::worker::WorkerError),
}

/// Builds a worker's context and runs it until `shutdown` resolves. With
/// `worker_health_addr` set, its health listener answers from the start (see
/// [`crate::jobs::health`]).
pub async fn run_worker(
    settings: Settings,
    migrate: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerRunError> {
    run_worker_with_health(
        WorkerHealth::for_settings(&settings),
        settings,
        migrate,
        shutdown,
    )
    .await
}

/// [`run_worker`] reporting to a `health` the caller keeps (tests watch it).
pub(crate) async fn run_worker_with_health(
    health: WorkerHealth,
    settings: Settings,
    migrate: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerRunError> {
    let metrics = match settings.metrics_addr {
        Some(addr) => Some(serve_worker_metrics(addr, settings.metrics_token.clone()).await?),
        None => None,
    };
    // Bound before the slow start (migrations, connecting), so that probes answer at once.
    let probes = match settings.worker_health_addr {
        Some(addr) => {
            let (local, task) = crate::jobs::health::serve(addr, health.clone())
                .await
                .map_err(StartupError::Io)?;
            tracing::info!(addr = %local, "worker health listening");
            Some(task)
        }
        None => None,
    };
    let result = match worker_context(settings, migrate).await {
        Ok(ctx) => crate::jobs::worker::run(ctx, shutdown, health.clone())
            .await
            .map_err(WorkerRunError::from),
        Err(e) => Err(e.into()),
    };
    health.stopped();
    for task in [metrics, probes].into_iter().flatten() {
        task.abort();
    }
    result
}

/// Serves this worker's metrics at `GET /metrics` on `addr`, so each of N workers can be
/// scraped; with `token` (`METRICS_TOKEN`) only for `Authorization: Bearer <token>`.
async fn serve_worker_metrics(
    addr: SocketAddr,
    token: Option<String>,
) -> Result<tokio::task::JoinHandle<()>, StartupError> {
    use axum::response::IntoResponse as _;
    let handle = crate::prometheus::handle();
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "worker metrics listening");
    let token = token.filter(|t| !t.is_empty());
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let handle = handle.clone();
            let token = token.clone();
            async move {
                if api::edge::bearer_matches(token.as_deref(), &headers) {
                    handle.render().into_response()
                } else {
                    api::routes::metrics::unauthorized()
                }
            }
        }),
    );
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "worker metrics stopped");
        }
    }))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
