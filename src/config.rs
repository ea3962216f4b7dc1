//! Layered configuration: the defaults compiled into the binary (`config/default.toml` at
//! build time), then `$CONFIG_DIR/default.toml` and `$CONFIG_DIR/local.toml` (both optional,
//! `CONFIG_DIR` defaults to `config`), then environment variables named after the keys in
//! upper case. The binary therefore runs from any folder and when installed.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use config::{Config, ConfigError, Environment, File, FileFormat};
use serde::Deserialize;

/// `config/default.toml` as it was when the binary was built: every key has a value
/// even when no configuration file is found at run time.
const DEFAULTS: &str = include_str!("../config/default.toml");

/// Every setting of the service; see the configuration table in docs/operations.md.
///
/// `Debug` hides the passwords of the connection URLs (see [`redact_url`]).
#[derive(Clone, Deserialize)]
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
    /// Directory for uploads and error files; shared by the API and the workers. With an
    /// `s3://` `storage_url` it holds only each process's local spool files.
    pub storage_dir: PathBuf,
    /// Where uploads and error files live: `file:///path` or `s3://bucket/prefix` (with
    /// the `AWS_*` variables); unset means the directory `storage_dir`.
    #[serde(default)]
    pub storage_url: Option<String>,
    /// Base URL of the API as clients see it, used for links such as `error_file`.
    pub public_url: String,
    /// Domain under which tenants have subdomains (`acme.<base_domain>`).
    pub base_domain: String,
    /// Jobs one worker process runs at once.
    pub worker_concurrency: usize,
    /// Milliseconds between an idle worker's polls of the queue. Workers are woken by
    /// Redis pub/sub when a task is pushed, so this is only the fallback (a missed
    /// message, a broken subscription).
    pub worker_poll_interval_ms: u64,
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
    /// Runs of one job that may die without reporting back (a killed or crashed worker)
    /// before the job is failed: a file that kills every worker reading it stops there.
    pub job_max_lost_runs: u32,
    /// Jobs of one tenant that may run at once across all workers (live runs); its other
    /// jobs wait while other tenants' jobs take the free slots. 0: no cap.
    pub tenant_max_running: u32,
    /// Jobs one tenant may have queued; an upload beyond answers 429 with `Retry-After`
    /// and keeps nothing. 0: no limit.
    pub tenant_max_queued: u32,
    /// `fair` (the default: see `db::schedule`) or `fifo` (the oldest job of any tenant
    /// first; the benchmark's baseline).
    #[serde(default)]
    pub job_pick_order: crate::db::schedule::PickOrder,
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
    /// `tenant:email` of an admin that `serve` creates on a new installation (no API key
    /// exists yet), printing its key once in its log; ignored once any key exists.
    #[serde(default)]
    pub bootstrap_admin: Option<String>,
    /// Where a worker serves its Prometheus metrics (`GET /metrics`); off when unset.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// Where a worker answers health probes (`GET /healthz`, `GET /readyz`); off when unset.
    #[serde(default)]
    pub worker_health_addr: Option<SocketAddr>,
    /// How long a worker asked to stop (SIGTERM) lets its running jobs finish before it
    /// exits anyway; an orchestrator's grace period must be longer.
    pub worker_shutdown_timeout_secs: u64,
    /// Maintenance mode: uploads answer 503 (nothing is stored) while reads keep working.
    #[serde(default)]
    pub maintenance: bool,
    /// Requests per second one API key may make on average; 0 turns rate limiting off.
    pub rate_limit_rps: u32,
    /// Requests one API key may make at once above the average rate (at least 1).
    pub rate_limit_burst: u32,
    /// Accept webhook URLs that are or resolve to loopback, private, link-local, CGNAT or
    /// any other special-purpose, broadcast or multicast address (refused by default:
    /// SSRF; see `webhooks::target`).
    #[serde(default)]
    pub webhook_allow_private_networks: bool,
    /// Seconds before a failed webhook delivery's first retry; each further retry waits
    /// three times longer (at most 6 hours).
    pub webhook_retry_base_secs: u64,
    /// Attempts a webhook delivery gets before it is marked `failed`.
    pub webhook_max_attempts: u32,
    /// Webhook endpoints one tenant may register; registering one more answers 409.
    pub webhook_max_endpoints: u32,
    /// Webhook deliveries one worker process sends at once.
    pub webhook_concurrency: usize,
    /// Webhook deliveries of one tenant in flight at once, across all workers: a tenant
    /// whose endpoints hang holds at most this many sends.
    pub webhook_max_in_flight_per_tenant: u32,
    /// Failed rows of one job kept as data for `GET /jobs/{id}/errors`; the rows beyond
    /// are only in the error CSV (`error_summary` counts them all).
    pub error_rows_stored_max: i64,
    /// Days a job keeps what it changed (its before-images) for a revert, counted from its
    /// end; then they are purged and a revert of the job is refused.
    pub revert_retention_days: u32,
    /// Seconds a client has to send a request's head (and a kept-alive connection may sit
    /// idle) before the API closes the connection.
    pub http_header_read_timeout_secs: u64,
    /// Seconds a request body may go without data before the request fails and the
    /// connection is closed (between pieces of the body, not for the whole body).
    pub http_body_idle_timeout_secs: u64,
    /// Connections the API keeps open at once; more wait in the listen backlog until one
    /// closes. 0: no cap.
    pub http_max_connections: usize,
    /// Failed authentications one client address may have at once before its requests
    /// get 429 without their key being looked up; 0 turns this off.
    pub auth_failure_burst: u32,
    /// Milliseconds after which one failed authentication of an address is forgiven.
    pub auth_failure_refill_ms: u64,
    /// Addresses with recent failed authentications that are tracked at most (memory
    /// bound); beyond, new addresses are not limited.
    pub auth_failure_max_addresses: usize,
    /// Proxies (addresses or CIDR networks, comma-separated) whose `X-Forwarded-For` names
    /// the client; empty: the socket's peer is the client.
    #[serde(default)]
    pub trusted_proxies: String,
    /// Event streams (`GET /jobs/{id}/events`) one API key may have open at once; 0: no cap.
    pub event_streams_per_key: usize,
    /// Seconds between an open event stream's checks that its key is not revoked.
    pub event_stream_key_check_secs: u64,
    /// When set, `GET /metrics` (API and worker) needs `Authorization: Bearer <token>`.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// When set, the API serves `GET /metrics` on this address instead of `listen_addr`.
    #[serde(default)]
    pub api_metrics_addr: Option<SocketAddr>,
    /// Label the queue metrics (queue wait, queued and running jobs) by tenant as well.
    /// Off by default: one series per tenant is a cardinality an installation with many
    /// tenants should choose knowingly.
    #[serde(default)]
    pub metrics_tenant_labels: bool,
}

impl Settings {
    /// Loads the compiled-in defaults, then `dir/default.toml` and `dir/local.toml` when
    /// they exist, then the environment.
    pub fn load_from(dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with(dir, Environment::default())
    }

    /// Loads from `$CONFIG_DIR` (default `config`, which need not exist), then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = std::env::var_os("CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir)
    }

    /// The layers in order; `env` is a parameter so that tests need not touch the
    /// process environment.
    fn load_with(dir: &Path, env: Environment) -> Result<Self, ConfigError> {
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(env.try_parsing(true))
            .build()?
            .try_deserialize()
    }

    /// The `wait=true` limit as a duration.
    pub(crate) fn upload_wait_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_wait_timeout_secs)
    }

    /// The API listener's timeouts and connection cap.
    pub(crate) fn connection_limits(&self) -> crate::api::serve::ConnectionLimits {
        crate::api::serve::ConnectionLimits {
            header_read_timeout: Duration::from_secs(self.http_header_read_timeout_secs.max(1)),
            body_idle_timeout: Duration::from_secs(self.http_body_idle_timeout_secs.max(1)),
            max_connections: self.http_max_connections,
        }
    }

    /// `public_url` without a trailing slash, for building links.
    pub(crate) fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured without `..` so that a new field does not compile until someone
        // decides here whether it holds a secret.
        let Self {
            database_url,
            redis_url,
            smtp_url,
            mail_from,
            listen_addr,
            storage_dir,
            storage_url,
            public_url,
            base_domain,
            worker_concurrency,
            worker_poll_interval_ms,
            import_chunk_rows,
            import_writers,
            max_upload_bytes,
            upload_wait_timeout_secs,
            queue_namespace,
            job_max_attempts,
            job_max_lost_runs,
            tenant_max_running,
            tenant_max_queued,
            job_pick_order,
            orphan_timeout_secs,
            reconcile_interval_secs,
            enqueue_grace_secs,
            stale_upload_secs,
            auto_migrate,
            log_format,
            bootstrap_admin,
            metrics_addr,
            worker_health_addr,
            worker_shutdown_timeout_secs,
            maintenance,
            rate_limit_rps,
            rate_limit_burst,
            webhook_allow_private_networks,
            webhook_retry_base_secs,
            webhook_max_attempts,
            webhook_max_endpoints,
            webhook_concurrency,
            webhook_max_in_flight_per_tenant,
            error_rows_stored_max,
            revert_retention_days,
            http_header_read_timeout_secs,
            http_body_idle_timeout_secs,
            http_max_connections,
            auth_failure_burst,
            auth_failure_refill_ms,
            auth_failure_max_addresses,
            trusted_proxies,
            event_streams_per_key,
            event_stream_key_check_secs,
            metrics_token,
            api_metrics_addr,
            metrics_tenant_labels,
        } = self;
        f.debug_struct("Settings")
            .field("database_url", &redact_url(database_url))
            .field("redis_url", &redact_url(redis_url))
            .field("smtp_url", &redact_url(smtp_url))
            .field("mail_from", mail_from)
            .field("listen_addr", listen_addr)
            .field("storage_dir", storage_dir)
            .field("storage_url", &storage_url.as_deref().map(redact_url))
            .field("public_url", &redact_url(public_url))
            .field("base_domain", base_domain)
            .field("worker_concurrency", worker_concurrency)
            .field("worker_poll_interval_ms", worker_poll_interval_ms)
            .field("import_chunk_rows", import_chunk_rows)
            .field("import_writers", import_writers)
            .field("max_upload_bytes", max_upload_bytes)
            .field("upload_wait_timeout_secs", upload_wait_timeout_secs)
            .field("queue_namespace", queue_namespace)
            .field("job_max_attempts", job_max_attempts)
            .field("job_max_lost_runs", job_max_lost_runs)
            .field("tenant_max_running", tenant_max_running)
            .field("tenant_max_queued", tenant_max_queued)
            .field("job_pick_order", job_pick_order)
            .field("orphan_timeout_secs", orphan_timeout_secs)
            .field("reconcile_interval_secs", reconcile_interval_secs)
            .field("enqueue_grace_secs", enqueue_grace_secs)
            .field("stale_upload_secs", stale_upload_secs)
            .field("auto_migrate", auto_migrate)
            .field("log_format", log_format)
            .field("bootstrap_admin", bootstrap_admin)
            .field("metrics_addr", metrics_addr)
            .field("worker_health_addr", worker_health_addr)
            .field("worker_shutdown_timeout_secs", worker_shutdown_timeout_secs)
            .field("maintenance", maintenance)
            .field("rate_limit_rps", rate_limit_rps)
            .field("rate_limit_burst", rate_limit_burst)
            .field(
                "webhook_allow_private_networks",
                webhook_allow_private_networks,
            )
            .field("webhook_retry_base_secs", webhook_retry_base_secs)
            .field("webhook_max_attempts", webhook_max_attempts)
            .field("webhook_max_endpoints", webhook_max_endpoints)
            .field("webhook_concurrency", webhook_concurrency)
            .field(
                "webhook_max_in_flight_per_tenant",
                webhook_max_in_flight_per_tenant,
            )
            .field("error_rows_stored_max", error_rows_stored_max)
            .field("revert_retention_days", revert_retention_days)
            .field(
                "http_header_read_timeout_secs",
                http_header_read_timeout_secs,
            )
            .field("http_body_idle_timeout_secs", http_body_idle_timeout_secs)
            .field("http_max_connections", http_max_connections)
            .field("auth_failure_burst", auth_failure_burst)
            .field("auth_failure_refill_ms", auth_failure_refill_ms)
            .field("auth_failure_max_addresses", auth_failure_max_addresses)
            .field("trusted_proxies", trusted_proxies)
            .field("event_streams_per_key", event_streams_per_key)
            .field("event_stream_key_check_secs", event_stream_key_check_secs)
            .field("metrics_token", &metrics_token.as_ref().map(|_| "***"))
            .field("api_metrics_addr", api_metrics_addr)
            .field("metrics_tenant_labels", metrics_tenant_labels)
            .finish()
    }
}

/// What [`redact_url`] shows for text that is not a URL with a host: it cannot tell
/// where a password would be, so it shows nothing of it.
const UNREADABLE_URL: &str = "*** (not a URL with a host; hidden)";

/// A connection URL fit for logs: the password (`user:***@host`) and the values of query
/// parameters that look like credentials (`?password=***`) are replaced by `***`.
/// Anything that does not parse as a URL with a host is hidden whole.
pub(crate) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return UNREADABLE_URL.to_owned();
    };
    if url.cannot_be_a_base() {
        // `user:pass@host` without a scheme parses as scheme `user`, path `pass@host`.
        return UNREADABLE_URL.to_owned();
    }
    if url.password().is_some() && url.set_password(Some("***")).is_err() {
        return UNREADABLE_URL.to_owned();
    }
    if url.query_pairs().any(|(key, _)| is_secret_param(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_param(&key) {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Query parameters that carry credentials, e.g. libpq's `password` or `sslpassword`.
fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token"].iter().any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::Map;

    /// An environment holding only `vars`, instead of the process environment.
    fn env(vars: &[(&str, &str)]) -> Environment {
        let vars: Map<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Environment::default().source(Some(vars))
    }

    fn missing_dir() -> PathBuf {
        std::env::temp_dir().join(format!("batch-import-no-config-{}", std::process::id()))
    }

    #[test]
    fn loads_the_compiled_in_defaults_without_a_config_dir() {
        let dir = missing_dir();
        assert!(!dir.exists());
        let settings = Settings::load_with(&dir, env(&[])).unwrap();
        assert_eq!(
            settings.database_url,
            "postgres://postgres@127.0.0.1:5432/batch_import"
        );
        assert_eq!(settings.listen_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(settings.import_chunk_rows, 4000);
        assert!(settings.auto_migrate);
    }

    #[test]
    fn the_environment_overrides_the_defaults() {
        let settings = Settings::load_with(
            &missing_dir(),
            env(&[
                ("DATABASE_URL", "postgres://app:pw@db:5432/prod"),
                ("WORKER_CONCURRENCY", "7"),
                ("AUTO_MIGRATE", "false"),
                ("LISTEN_ADDR", "0.0.0.0:9000"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database_url, "postgres://app:pw@db:5432/prod");
        assert_eq!(settings.worker_concurrency, 7);
        assert!(!settings.auto_migrate);
        assert_eq!(settings.listen_addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            settings.redis_url, "redis://127.0.0.1:6379",
            "the rest stays"
        );
    }

    #[test]
    fn config_dir_files_override_the_defaults_and_the_environment_overrides_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("default.toml"), "worker_concurrency = 3\n").unwrap();
        std::fs::write(
            dir.join("local.toml"),
            "worker_concurrency = 4\nqueue_namespace = \"local\"\n",
        )
        .unwrap();
        let settings = Settings::load_with(dir, env(&[])).unwrap();
        assert_eq!(settings.worker_concurrency, 4);
        assert_eq!(settings.queue_namespace, "local");
        assert_eq!(settings.import_writers, 2, "compiled-in default");

        let settings = Settings::load_with(dir, env(&[("QUEUE_NAMESPACE", "env")])).unwrap();
        assert_eq!(settings.queue_namespace, "env");
    }

    #[test]
    fn the_repository_config_dir_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = Settings::load_with(&dir, env(&[])).unwrap();
        assert_eq!(settings.log_format, "pretty");
    }

    #[test]
    fn debug_output_hides_every_password() {
        let mut settings = Settings::load_with(&missing_dir(), env(&[])).unwrap();
        settings.database_url =
            "postgres://app:pg-s3cret@db:5432/prod?sslpassword=key-s3cret".into();
        settings.redis_url = "redis://:redis-s3cret@cache:6379/0".into();
        settings.smtp_url = "smtps://mailer:smtp-s3cret@smtp.example.com:465".into();
        settings.metrics_token = Some("metrics-s3cret".into());
        let debug = format!("{settings:?}");
        let pretty = format!("{settings:#?}");
        for secret in [
            "pg-s3cret",
            "key-s3cret",
            "redis-s3cret",
            "smtp-s3cret",
            "metrics-s3cret",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
            assert!(!pretty.contains(secret), "{secret} in {pretty}");
        }
        assert!(debug.contains("postgres://app:***@db:5432/prod"), "{debug}");
        assert!(debug.contains("redis://:***@cache:6379/0"), "{debug}");
        assert!(
            debug.contains("smtps://mailer:***@smtp.example.com:465"),
            "{debug}"
        );
        assert!(
            debug.contains("worker_concurrency: 2"),
            "other fields stay: {debug}"
        );
    }

    #[test]
    fn redact_url_replaces_the_password() {
        assert_eq!(
            redact_url("postgres://user:pass@host/db"),
            "postgres://user:***@host/db"
        );
        assert_eq!(
            redact_url("postgres://user:p%40ss%2Fw@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(
            redact_url("redis://:pass@host:6379"),
            "redis://:***@host:6379"
        );
        assert_eq!(
            redact_url("smtps://user:pass@smtp.example.com?tls=required"),
            "smtps://user:***@smtp.example.com?tls=required"
        );
    }

    #[test]
    fn redact_url_keeps_urls_without_a_password() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/batch_import",
            "redis://127.0.0.1:6379",
            "smtp://127.0.0.1:1025",
            "smtp://host:587?tls=required",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn redact_url_hides_credentials_in_the_query() {
        let redacted = redact_url("postgres://db/app?user=app&password=hunter2&sslmode=require");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("password=***"), "{redacted}");
        assert!(redacted.contains("user=app") && redacted.contains("sslmode=require"));
    }

    #[test]
    fn redact_url_hides_what_it_cannot_read() {
        for raw in [
            "user:hunter2@host/db",
            "postgres://user:hun/ter2@host/db",
            "not a url hunter2",
            "",
        ] {
            let redacted = redact_url(raw);
            assert!(!redacted.contains("hunter2"), "{raw} -> {redacted}");
            assert_eq!(redacted, UNREADABLE_URL, "{raw}");
        }
    }
}
