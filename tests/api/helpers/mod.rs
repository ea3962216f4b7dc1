//! `spawn_app`: a real API and an in-process worker against real Postgres (a fresh
//! database per test), real Redis (a fresh queue namespace per test) and a real SMTP server.

mod counts;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use batch_import::{config::Settings, db, domain::TenantSlug, startup};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

pub use batch_import_test_support::{MotoServer, SmtpServer};
pub use counts::{Counts, assert_counts};

/// The Postgres server the tests use; override with `TEST_DATABASE_SERVER`.
pub fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Whether the tests show their logs: `TEST_LOG=1` (any value but empty or `0`).
pub fn test_log() -> bool {
    std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Logs go to stdout with `TEST_LOG=1`, to a sink otherwise (`cargo test` does not capture
/// what other threads write to stdout, so every test would print its server's log).
fn init_test_logs() {
    if test_log() {
        batch_import::telemetry::init("pretty");
    } else {
        batch_import::telemetry::init_with_writer("pretty", std::io::sink);
    }
}

/// The settings of a test: defaults from `config/`, isolated database, queue and storage.
pub fn test_settings(smtp: &SmtpServer, storage: &std::path::Path) -> Settings {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir).expect("config/default.toml loads");
    let id = Uuid::new_v4().simple().to_string();
    settings.database_url = format!("{}/bi_test_{id}", database_server());
    if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
        settings.redis_url = redis;
    }
    settings.queue_namespace = format!("bi-test-{id}");
    settings.smtp_url = smtp.url();
    settings.storage_dir = storage.to_owned();
    settings.listen_addr = "127.0.0.1:0".parse().unwrap();
    settings.base_domain = "example.test".into();
    settings.import_chunk_rows = 3;
    settings.upload_wait_timeout_secs = 30;
    // Recover quickly from what the tests break on purpose.
    settings.reconcile_interval_secs = 1;
    settings.enqueue_grace_secs = 1;
    settings
}

/// A running API and worker for one test.
pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub db: sqlx::PgPool,
    pub smtp: SmtpServer,
    pub client: reqwest::Client,
    pub storage: tempfile::TempDir,
    worker_stop: Option<oneshot::Sender<()>>,
}

/// Starts the API with an in-process worker.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, true).await
}

/// Starts the API; `customise` adjusts the settings; `with_worker` adds an in-process worker.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings), with_worker: bool) -> TestApp {
    init_test_logs();
    let smtp = SmtpServer::start();
    let storage = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = test_settings(&smtp, storage.path());
    settings.public_url = format!("http://127.0.0.1:{port}");
    customise(&mut settings);

    let server = startup::ApiServer::with_listener(listener, settings.clone(), true)
        .await
        .expect("the API starts");
    tokio::spawn(server.run(std::future::pending()));

    let worker_stop = with_worker.then(|| {
        let (tx, rx) = oneshot::channel::<()>();
        let worker_settings = settings.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) =
                batch_import::startup::run_worker(worker_settings, false, shutdown).await
            {
                panic!("worker failed: {e}");
            }
        });
        tx
    });

    let db = startup::database(&settings, 5, false).await.unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        settings,
        db,
        smtp,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        storage,
        worker_stop,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.worker_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The opportunity of `items` (a listing) with external id `id` (panics when missing).
pub fn by_external_id<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items
        .iter()
        .find(|o| o["external_opp_id"] == id)
        .unwrap_or_else(|| panic!("{id} imported: {items:?}"))
}

/// A CSV upload as curl's `-F "file=@name.csv"` sends it.
pub fn csv_form(name: &str, csv: impl Into<Vec<u8>>) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(csv.into())
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .unwrap();
    reqwest::multipart::Form::new().part("file", part)
}

impl TestApp {
    /// Creates a key (and tenant and user when missing).
    pub async fn key(&self, tenant: &str, email: &str, admin: bool) -> String {
        let slug = TenantSlug::parse(tenant).unwrap();
        db::accounts::create_key(&self.db, &slug, email, admin)
            .await
            .unwrap()
            .expose()
            .to_owned()
    }

    /// An admin key of a fresh tenant.
    pub async fn admin_key(&self) -> String {
        let tenant = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        self.key(&tenant, &format!("admin@{tenant}.example.com"), true)
            .await
    }

    /// `GET {path}` with a key.
    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("Authorization", key)
            .send()
            .await
            .unwrap()
    }

    /// Uploads a CSV to `/api/v1/{kind}/upload?{query}`.
    pub async fn upload(
        &self,
        key: &str,
        kind: &str,
        query: &str,
        name: &str,
        csv: impl Into<Vec<u8>>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/{kind}/upload?{query}", self.address))
            .header("Authorization", key)
            .multipart(csv_form(name, csv))
            .send()
            .await
            .unwrap()
    }

    /// Uploads and returns the job id (asserting 202).
    pub async fn upload_job(
        &self,
        key: &str,
        kind: &str,
        query: &str,
        csv: impl Into<Vec<u8>>,
    ) -> String {
        let response = self.upload(key, kind, query, "upload.csv", csv).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "upload answered {body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    /// The new job of a `202 Accepted` answer (a correction, a revert), asserting its
    /// `Location` is the job's URL: its `data` as answered.
    pub async fn accepted_job(&self, response: reqwest::Response) -> Value {
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "answered {body}");
        assert_eq!(location.as_deref(), body["data"]["url"].as_str(), "{body}");
        body["data"].clone()
    }

    /// Polls the job until it is terminal; returns its `data`.
    pub async fn wait_for_job(&self, key: &str, id: &str) -> Value {
        self.wait_for_job_within(key, id, Duration::from_secs(30))
            .await
    }

    /// Polls the job until it is terminal or `timeout` passes (then panics).
    pub async fn wait_for_job_within(&self, key: &str, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let body: Value = self
                .get(key, &format!("/api/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let state = body["data"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if ["completed", "failed", "cancelled"].contains(&state.as_str()) {
                return body["data"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not finish in time: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads, waits, returns the finished job.
    pub async fn import(
        &self,
        key: &str,
        kind: &str,
        query: &str,
        csv: impl Into<Vec<u8>>,
    ) -> Value {
        let id = self.upload_job(key, kind, query, csv).await;
        self.wait_for_job(key, &id).await
    }

    /// Runs the command-line client, `batch-import ARGS`, against the app with `key` in
    /// `BATCH_IMPORT_KEY`.
    pub async fn client(&self, key: &str, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
            .args(args)
            .env("BATCH_IMPORT_URL", &self.address)
            .env("BATCH_IMPORT_KEY", key)
            .env_remove("RUST_BACKTRACE")
            .kill_on_drop(true)
            .output()
            .await
            .expect("the binary runs")
    }

    /// The `data` array of `GET /api/v1/{what}` (first page), e.g. `opportunities`.
    pub async fn list(&self, key: &str, what: &str) -> Vec<Value> {
        let body: Value = self
            .get(key, &format!("/api/v1/{what}"))
            .await
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// Downloads a job's error CSV (asserting 200).
    pub async fn error_csv(&self, key: &str, job: &Value) -> String {
        let url = job["error_file"].as_str().unwrap();
        assert!(
            url.starts_with(&self.address),
            "error_file {url} is a URL of this API"
        );
        let response = self
            .client
            .get(url)
            .header("Authorization", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.starts_with("\u{feff}".as_bytes()),
            "error CSV starts with a UTF-8 BOM"
        );
        String::from_utf8(bytes[3..].to_vec()).unwrap()
    }
}

/// The environment that points a `batch-import` process at this test's services.
pub fn process_env(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config").to_owned(),
        ),
        ("DATABASE_URL", settings.database_url.clone()),
        ("REDIS_URL", settings.redis_url.clone()),
        ("SMTP_URL", settings.smtp_url.clone()),
        ("STORAGE_DIR", settings.storage_dir.display().to_string()),
        ("PUBLIC_URL", settings.public_url.clone()),
        ("QUEUE_NAMESPACE", settings.queue_namespace.clone()),
        ("IMPORT_CHUNK_ROWS", settings.import_chunk_rows.to_string()),
        (
            "ORPHAN_TIMEOUT_SECS",
            settings.orphan_timeout_secs.to_string(),
        ),
        (
            "WORKER_CONCURRENCY",
            settings.worker_concurrency.to_string(),
        ),
        (
            "RECONCILE_INTERVAL_SECS",
            settings.reconcile_interval_secs.to_string(),
        ),
        (
            "ENQUEUE_GRACE_SECS",
            settings.enqueue_grace_secs.to_string(),
        ),
        ("STALE_UPLOAD_SECS", settings.stale_upload_secs.to_string()),
        ("JOB_MAX_ATTEMPTS", settings.job_max_attempts.to_string()),
        ("JOB_MAX_LOST_RUNS", settings.job_max_lost_runs.to_string()),
        (
            "TENANT_MAX_RUNNING",
            settings.tenant_max_running.to_string(),
        ),
        ("TENANT_MAX_QUEUED", settings.tenant_max_queued.to_string()),
        (
            "JOB_PICK_ORDER",
            match settings.job_pick_order {
                db::schedule::PickOrder::Fair => "fair",
                db::schedule::PickOrder::Fifo => "fifo",
            }
            .to_owned(),
        ),
        (
            "WORKER_SHUTDOWN_TIMEOUT_SECS",
            settings.worker_shutdown_timeout_secs.to_string(),
        ),
        // Processes the tests start print their log into the test's output: only warnings
        // and errors unless TEST_LOG asks for everything.
        (
            "RUST_LOG",
            if test_log() { "info,sqlx=warn" } else { "warn" }.to_owned(),
        ),
    ];
    if let Some(addr) = settings.worker_health_addr {
        env.push(("WORKER_HEALTH_ADDR", addr.to_string()));
    }
    env
}

/// Starts `batch-import work` as a separate process; it is killed when dropped.
pub fn worker_process(settings: &Settings) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .arg("work")
        .envs(process_env(settings))
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary starts")
}

/// Waits until a worker process has registered with the queue (apalis' workers set). A
/// task pushed in the instant a worker is registering can wait for the worker's next
/// heartbeat (`orphan_timeout_secs / 4`) before it is fetched; a test that sets a long
/// orphan timeout and uploads right after starting a worker waits for this first.
pub async fn worker_registered(settings: &Settings) {
    let key = batch_import::jobs::queue::queue_config(settings).workers_set();
    let client = redis::Client::open(settings.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let workers: u64 = redis::cmd("ZCARD")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if workers > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no worker registered in {key}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends SIGTERM to a process the test started (a worker asked to stop gracefully).
pub fn sigterm(process: &tokio::process::Child) {
    let pid = process.id().expect("the process is running").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// The `Error` cells of an error CSV, in order.
pub fn error_messages(error_csv: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_reader(error_csv.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "Error")
        .expect("an Error column");
    reader
        .records()
        .map(|r| r.unwrap()[column].to_owned())
        .collect()
}

/// An opportunities CSV of `rows` valid rows with ids `<prefix>-<n>`.
pub fn opportunities_csv(prefix: &str, rows: usize) -> String {
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    for i in 0..rows {
        csv.push_str(&format!("{prefix}-{i},\"Deal {i}, {prefix}\"\n"));
    }
    csv
}

impl TestApp {
    /// `GET {path}` without a key.
    pub async fn get_anonymous(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// How many opportunities the database holds (all tenants of this test).
    pub async fn stored_opportunities(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM opportunities")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// `POST {path}` with a key.
    pub async fn post(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("Authorization", key)
            .send()
            .await
            .unwrap()
    }

    /// Waits until the job has committed its first chunk (panics if it finishes first:
    /// the test's file is then too small to catch it mid-run).
    pub async fn wait_until_midway(&self, key: &str, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body: Value = self
                .get(key, &format!("/api/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let job = &body["data"];
            assert!(
                !["completed", "failed", "cancelled"].contains(&job["state"].as_str().unwrap()),
                "the job finished before it could be caught mid-run: {job}"
            );
            if job["state"] == "running" && job["rows_processed"].as_i64().unwrap() > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "job never started: {job}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
