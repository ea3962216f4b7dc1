//! Layered configuration: `config/default.toml`, then `config/local.toml` (optional,
//! not committed), then environment variables named after the keys in upper case.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

/// Every setting of the service; see the configuration table in README.md.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Postgres connection string.
    pub database_url: String,
    /// Redis connection string for the job queue.
    pub redis_url: String,
    /// SMTP server, e.g. `smtp://127.0.0.1:1025`, `smtps://user:pass@host` or
    /// `smtp://host:587?tls=required`.
    pub smtp_url: String,
    /// Sender of error-report emails, e.g. `Batch Import <no-reply@example.com>`.
    pub mail_from: String,
    /// Address the HTTP API listens on.
    pub listen_addr: SocketAddr,
    /// Directory for uploads and error files; shared by the API and the workers.
    pub storage_dir: PathBuf,
    /// Base URL of the API as clients see it, used for links such as `error_file`.
    pub public_url: String,
    /// Domain under which tenants have subdomains (`acme.<base_domain>`).
    pub base_domain: String,
    /// Jobs one worker process runs at once.
    pub worker_concurrency: usize,
    /// Rows per chunk: progress is recorded and cancels take effect between chunks.
    pub import_chunk_rows: usize,
    /// Connections one import writes with in parallel (rows are split by key).
    pub import_writers: usize,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// How long `wait=true` holds an upload request before answering 202.
    pub upload_wait_timeout_secs: u64,
    /// Redis key namespace of the job queue; API and workers must agree.
    pub queue_namespace: String,
    /// Attempts a job gets when it fails for a transient reason.
    pub job_max_attempts: u32,
    /// A run's lease on its job, in seconds: renewed every third of it while the run
    /// lives; once it lapses the job is handed to another worker.
    pub orphan_timeout_secs: u64,
    /// Seconds between two passes of the reconciler (every worker runs one).
    pub reconcile_interval_secs: u64,
    /// Seconds a pushed job may wait before the reconciler checks that Redis still holds
    /// its task.
    pub enqueue_grace_secs: u64,
    /// A partial upload not written to for this many seconds belongs to a dead request
    /// and is removed.
    pub stale_upload_secs: u64,
    /// Apply pending migrations when `serve` or `work` starts.
    pub auto_migrate: bool,
    /// `pretty` or `json` log lines.
    pub log_format: String,
    /// Maintenance mode: uploads answer 503 (nothing is stored) while reads keep working.
    #[serde(default)]
    pub maintenance: bool,
    /// Requests per second one API key may make on average; 0 turns rate limiting off.
    pub rate_limit_rps: u32,
    /// Requests one API key may make at once above the average rate (at least 1).
    pub rate_limit_burst: u32,
}

impl Settings {
    /// Loads the layered configuration from `dir` (usually `config/`) and the environment.
    pub fn load_from(dir: &std::path::Path) -> Result<Self, config::ConfigError> {
        config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")).required(true))
            .add_source(config::File::from(dir.join("local.toml")).required(false))
            .add_source(config::Environment::default().try_parsing(true))
            .build()?
            .try_deserialize()
    }

    /// Loads from `$CONFIG_DIR` (default `config`), then the environment.
    pub fn load() -> Result<Self, config::ConfigError> {
        let dir = std::env::var_os("CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir)
    }

    /// The `wait=true` limit as a duration.
    pub fn upload_wait_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_wait_timeout_secs)
    }

    /// `public_url` without a trailing slash, for building links.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}
