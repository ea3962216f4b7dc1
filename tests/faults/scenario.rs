//! What every scenario sets up before its fault: the serial lock, a real SMTP server, a
//! Redis of its own, optionally a Postgres cluster of its own, the stack (API and workers)
//! wired to them, and an admin key.

use std::time::Duration;

use batch_import_test_support::{MotoServer, SmtpServer};
use sqlx::{Postgres, Transaction};
use tokio::sync::MutexGuard;
use uuid::Uuid;

use crate::{
    checks::{self, Ledger},
    csv_files::{self, OppFile, opportunities},
    postgres::PgCluster,
    process::serial,
    proxy::Proxy,
    redis::RedisServer,
    stack::{Services, Stack, shared_database_url},
    tmpfs::Tmpfs,
};

/// The key prefix of an S3 scenario's files in its bucket.
pub const S3_PREFIX: &str = "faults";

/// How a scenario's environment differs from the plain one.
pub struct Options {
    /// `work` processes started before the scenario begins.
    pub workers: usize,
    /// A Postgres cluster of the scenario's own (to stop and restart) instead of a fresh
    /// database on the shared server.
    pub own_postgres: bool,
    /// Mail goes through a [`Proxy`] (it starts down) that the scenario takes up and down.
    pub smtp_proxy: bool,
    /// `STORAGE_DIR` on a tmpfs of this size, to fill the disk.
    pub storage_tmpfs: Option<&'static str>,
    /// Environment variables added to or overriding the stack's.
    pub extra_env: &'static [(&'static str, &'static str)],
    /// Uploads and error files in a bucket of a moto server of the scenario's own
    /// (`STORAGE_URL=s3://…` and the `AWS_*` variables) instead of `STORAGE_DIR`.
    pub s3: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            own_postgres: false,
            smtp_proxy: false,
            storage_tmpfs: None,
            extra_env: &[],
            s3: false,
        }
    }
}

/// A running scenario. Fields drop in declaration order: the stack's processes go first,
/// then the tmpfs they wrote to, the services they used, the scratch folder that holds
/// Redis's files, and the serial lock last.
pub struct Scenario {
    /// The API, the workers and the test's database connections.
    pub stack: Stack,
    /// An admin key of the scenario's tenant.
    pub key: String,
    _storage: Option<Tmpfs>,
    moto: Option<MotoServer>,
    postgres: Option<PgCluster>,
    /// The scenario's own Redis.
    pub redis: RedisServer,
    proxy: Option<Proxy>,
    /// The SMTP server that receives the reports.
    pub smtp: SmtpServer,
    _scratch: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Scenario {
    /// Starts the services, the API and `options.workers` workers; makes the admin key.
    pub async fn start(options: Options) -> Self {
        let serial = serial().await;
        let smtp = SmtpServer::start();
        let proxy = options.smtp_proxy.then(|| Proxy::new(smtp.port));
        let scratch = tempfile::tempdir().unwrap();
        let redis = RedisServer::start(scratch.path().join("redis")).await;
        let storage = options.storage_tmpfs.map(Tmpfs::mount);
        let postgres = if options.own_postgres {
            Some(PgCluster::start().await)
        } else {
            None
        };
        let moto = if options.s3 {
            Some(MotoServer::start().await)
        } else {
            None
        };
        let s3_env = moto.as_ref().map(|m| m.env(S3_PREFIX)).unwrap_or_default();
        let mut extra_env = options.extra_env.to_vec();
        extra_env.extend(s3_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut stack = Stack::new(
            Services {
                database_url: postgres
                    .as_ref()
                    .map_or_else(shared_database_url, |pg| pg.url("batch_import")),
                redis_url: redis.url(),
                smtp_url: proxy
                    .as_ref()
                    .map_or_else(|| smtp.url(), |p| format!("smtp://127.0.0.1:{}", p.port)),
                storage_dir: storage.as_ref().map(|t| t.path().to_owned()),
            },
            &extra_env,
        )
        .await;
        stack.start_api().await;
        for _ in 0..options.workers {
            stack.start_worker();
        }
        let key = stack.admin_key();
        Self {
            stack,
            key,
            _storage: storage,
            moto,
            postgres,
            redis,
            proxy,
            smtp,
            _scratch: scratch,
            _serial: serial,
        }
    }

    /// The scenario's own Postgres cluster.
    pub fn postgres(&mut self) -> &mut PgCluster {
        self.postgres
            .as_mut()
            .expect("the scenario was started with own_postgres")
    }

    /// The scenario's S3 server.
    pub fn moto(&self) -> &MotoServer {
        self.moto
            .as_ref()
            .expect("the scenario was started with s3")
    }

    /// The proxy in front of the SMTP server.
    pub fn proxy(&self) -> &Proxy {
        self.proxy
            .as_ref()
            .expect("the scenario was started with smtp_proxy")
    }

    /// Uploads `file` as opportunities with an error report asked for (asserting `202`)
    /// and records what it must give in `ledger`; returns the job.
    pub async fn import(&self, ledger: &mut Ledger, file: OppFile) -> Uuid {
        let job = self
            .stack
            .upload_job(
                &self.key,
                "opportunities",
                "send_error_email=true",
                file.csv.clone(),
            )
            .await;
        ledger.add(job, file);
        job
    }

    /// Uploads `file` as opportunities without an error report, waits until every job is
    /// terminal (within `bound`) and records what it must give in `ledger`.
    pub async fn seed(&mut self, ledger: &mut Ledger, file: OppFile, bound: Duration) {
        let job = self
            .stack
            .upload_job(&self.key, "opportunities", "", file.csv.clone())
            .await;
        checks::all_terminal_within(&mut self.stack, bound).await;
        ledger.add(job, file);
    }

    /// Imports a file of the opportunities `holds` and waits for it; then locks them and
    /// imports one file per held key (`rows` rows, prefix `<prefix><n>`, a bad amount every
    /// `bad_every`th row, the key half-way). Returns the lock and those jobs once each
    /// is mid-file.
    pub async fn hold_imports(
        &mut self,
        ledger: &mut Ledger,
        holds: &[&str],
        (prefix, rows, bad_every): (&str, usize, usize),
        bound: Duration,
    ) -> (Transaction<'static, Postgres>, Vec<Uuid>) {
        self.seed(ledger, csv_files::held(holds), bound).await;
        let hold = csv_files::hold(&self.stack.db, holds).await;
        let mut jobs = Vec::new();
        for (n, h) in holds.iter().enumerate() {
            let file = opportunities(&format!("{prefix}{n}"), rows, Some(bad_every), Some(h));
            jobs.push(self.import(ledger, file).await);
        }
        self.stack.wait_midway(&jobs).await;
        (hold, jobs)
    }

    /// A kill storm: every second for `rounds` seconds one worker dies by SIGKILL and a
    /// fresh one starts.
    pub async fn kill_workers(&mut self, rounds: usize) {
        for round in 0..rounds {
            self.stack.kill_worker(round);
            self.stack.start_worker();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The kills really cut runs short: `jobs` took more runs than there are jobs (else
    /// the scenario proved nothing about surviving them).
    pub async fn assert_runs_cut_short(&self, jobs: &[Uuid]) {
        let runs: i64 =
            sqlx::query_scalar("SELECT sum(attempts) FROM import_jobs WHERE id = ANY($1)")
                .bind(jobs)
                .fetch_one(&self.stack.db)
                .await
                .unwrap();
        assert!(
            runs > jobs.len() as i64,
            "the kills cut runs short ({runs} runs of {} jobs)",
            jobs.len()
        );
    }

    /// Every end-of-scenario check ([`checks::nothing_lost`]) of what `ledger` recorded.
    pub async fn nothing_lost(&mut self, ledger: &Ledger, bound: Duration) {
        checks::nothing_lost(&mut self.stack, &self.smtp, ledger, bound).await;
    }
}
