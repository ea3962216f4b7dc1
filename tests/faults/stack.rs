//! The service under test as an operator runs it: the `batch-import` binary as one `serve`
//! process and several `work` processes, configured by environment variables, sharing a
//! storage folder, a database, a Redis and an SMTP server.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use sqlx::{PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

use crate::process::{Proc, free_port, wait_until};

const BINARY: &str = env!("CARGO_BIN_EXE_batch-import");

/// The shared Postgres server of the other tests; `TEST_DATABASE_SERVER` overrides it.
pub fn shared_database_url() -> String {
    let server = std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    // CI drops the bi_test_% databases that runs leave behind.
    format!("{server}/bi_test_{}", Uuid::new_v4().simple())
}

/// Where the processes find their services.
pub struct Services {
    /// Postgres database (created by `migrate` when missing).
    pub database_url: String,
    /// Redis.
    pub redis_url: String,
    /// SMTP.
    pub smtp_url: String,
    /// `STORAGE_DIR`; `None` puts it inside the stack's folder.
    pub storage_dir: Option<PathBuf>,
}

/// An API process, worker processes and the environment they share.
pub struct Stack {
    /// Logs (and storage unless given).
    pub dir: tempfile::TempDir,
    /// `STORAGE_DIR`.
    pub storage: PathBuf,
    /// The API's base URL.
    pub address: String,
    /// The test's own connections to the service's database.
    pub db: PgPool,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    env: Vec<(String, String)>,
    api: Option<Proc>,
    workers: Vec<Proc>,
    started: usize,
}

impl Stack {
    /// Prepares the environment and migrates the database; starts no process yet.
    /// `extra` adds or overrides environment variables.
    pub async fn new(services: Services, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bi-faults")
            .tempdir()
            .unwrap();
        let storage = services
            .storage_dir
            .unwrap_or_else(|| dir.path().join("storage"));
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            ("RUST_LOG", "warn"),
            ("LOG_FORMAT", "pretty"),
            ("WORKER_CONCURRENCY", "2"),
            ("IMPORT_CHUNK_ROWS", "50"),
            ("IMPORT_WRITERS", "2"),
            ("ORPHAN_TIMEOUT_SECS", "4"),
            // Recover within seconds from what the scenarios break on purpose.
            ("RECONCILE_INTERVAL_SECS", "1"),
            ("ENQUEUE_GRACE_SECS", "2"),
            // Scenarios poll and upload fast with one key; the per-key limit is not under test.
            ("RATE_LIMIT_RPS", "0"),
            ("UPLOAD_WAIT_TIMEOUT_SECS", "30"),
            ("BASE_DOMAIN", "example.test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend([
            ("DATABASE_URL".to_owned(), services.database_url.clone()),
            ("REDIS_URL".to_owned(), services.redis_url),
            ("SMTP_URL".to_owned(), services.smtp_url),
            ("STORAGE_DIR".to_owned(), storage.display().to_string()),
            ("LISTEN_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            ("PUBLIC_URL".to_owned(), address.clone()),
            (
                "QUEUE_NAMESPACE".to_owned(),
                format!("bi-faults-{}", Uuid::new_v4().simple()),
            ),
        ]);
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let mut stack = Self {
            storage,
            address,
            db: PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy(&services.database_url)
                .unwrap(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(40))
                .build()
                .unwrap(),
            dir,
            env,
            api: None,
            workers: Vec::new(),
            started: 0,
        };
        stack.cli(&["migrate"]);
        stack
    }

    /// Runs a short CLI command (`migrate`, `keys create`) to its end; returns stdout.
    pub fn cli(&mut self, args: &[&str]) -> String {
        let out = Command::new(BINARY)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "batch-import {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// An admin key of a fresh tenant, made with `keys create`.
    pub fn admin_key(&mut self) -> String {
        let tenant = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        let email = format!("admin@{tenant}.example.com");
        let out = self.cli(&[
            "keys", "create", "--tenant", &tenant, "--email", &email, "--admin",
        ]);
        out.lines().last().unwrap().trim().to_owned()
    }

    fn spawn(&mut self, subcommand: &str) -> Proc {
        self.started += 1;
        let name = format!("{subcommand}-{}", self.started);
        let log = self.dir.path().join(format!("{name}.log"));
        Proc::spawn(
            &name,
            Command::new(BINARY)
                .args([subcommand, "--no-migrate"])
                .envs(self.env.iter().map(|(k, v)| (k, v))),
            &log,
        )
    }

    /// Starts `serve` and waits until `/healthz` answers (it needs Redis to start).
    pub async fn start_api(&mut self) {
        assert!(self.api.is_none(), "the API already runs");
        let api = self.spawn("serve");
        self.api = Some(api);
        let url = format!("{}/api/v1/healthz", self.address);
        let http = self.http.clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ok = http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return;
            }
            let api = self.api.as_mut().unwrap();
            assert!(
                api.running() && std::time::Instant::now() < deadline,
                "the API did not come up: {}",
                api.log_tail(3000)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// kill -9 the API.
    pub fn kill_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.kill();
        }
    }

    /// Starts one more `work` process.
    pub fn start_worker(&mut self) {
        let worker = self.spawn("work");
        self.workers.push(worker);
    }

    /// kill -9 the `index`th running worker (modulo their number); returns its pid.
    pub fn kill_worker(&mut self, index: usize) -> u32 {
        assert!(!self.workers.is_empty(), "no worker to kill");
        let mut worker = self.workers.remove(index % self.workers.len());
        let pid = worker.pid();
        worker.kill();
        pid
    }

    /// What a supervisor (`restart: unless-stopped`) does: replaces workers that exited
    /// on their own. Returns how many were replaced.
    pub fn supervise(&mut self) -> usize {
        let before = self.workers.len();
        self.workers.retain_mut(Proc::running);
        let gone = before - self.workers.len();
        for _ in 0..gone {
            self.start_worker();
        }
        gone
    }

    /// The API and the workers as (name, pid), and the names of those that exited on
    /// their own (none is replaced: compare with [`Stack::supervise`]).
    pub fn processes(&mut self) -> (Vec<(String, u32)>, Vec<String>) {
        let mut live = Vec::new();
        let mut exited = Vec::new();
        for proc in self.api.iter_mut().chain(self.workers.iter_mut()) {
            if proc.running() {
                live.push((proc.name().to_owned(), proc.pid()));
            } else {
                exited.push(proc.name().to_owned());
            }
        }
        (live, exited)
    }

    /// The tails of every process log, for failure messages.
    pub fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                format!(
                    "--- {} ---\n{}",
                    p.file_name().unwrap().to_string_lossy(),
                    crate::process::tail(p, 1500)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The API's port.
    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `STORAGE_DIR/uploads`.
    pub fn uploads(&self) -> PathBuf {
        self.storage.join("uploads")
    }

    /// Uploads `csv` to `/api/v1/{kind}/upload?{query}`; returns the status and the body
    /// (`Value::Null` when it is not JSON).
    pub async fn upload(
        &self,
        key: &str,
        kind: &str,
        query: &str,
        csv: impl Into<Vec<u8>>,
    ) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(csv.into())
            .file_name("upload.csv")
            .mime_str("text/csv")
            .unwrap();
        let response = self
            .http
            .post(format!("{}/api/v1/{kind}/upload?{query}", self.address))
            .header("Authorization", key)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload request failed: {e}\n{}", self.logs()));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Uploads and returns the job id, asserting `202`.
    pub async fn upload_job(
        &self,
        key: &str,
        kind: &str,
        query: &str,
        csv: impl Into<Vec<u8>>,
    ) -> Uuid {
        let (status, body) = self.upload(key, kind, query, csv).await;
        assert_eq!(status, 202, "upload answered {body}\n{}", self.logs());
        body["data"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// `GET {path}` with a key; the status and the body (`Null` when not JSON).
    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .header("Authorization", key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `(state, rows_processed)` of a job, read from Postgres.
    pub async fn job_state(&self, id: Uuid) -> Option<(String, i64)> {
        sqlx::query_as("SELECT state, rows_processed FROM import_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db)
            .await
            .ok()
            .flatten()
    }

    /// Waits until each job runs and has committed a chunk (it is then held mid-file by a
    /// locked key); panics if one ends first.
    pub async fn wait_midway(&self, ids: &[Uuid]) {
        for &id in ids {
            wait_until(
                &format!("job {id} to be mid-file\n{}", self.logs()),
                Duration::from_secs(30),
                || async move {
                    let (state, rows) = self.job_state(id).await?;
                    assert!(
                        state == "queued" || state == "running",
                        "job {id} ended ({state}) before the fault could hit it mid-file"
                    );
                    (state == "running" && rows > 0).then_some(())
                },
            )
            .await;
        }
    }
}

/// A folder's file names (empty when it does not exist).
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
