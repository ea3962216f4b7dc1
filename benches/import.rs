//! The import benchmark: the project against the `psql` reference, in the same run.
//!
//! ```sh
//! cargo bench --bench import                 # full run (3 runs of everything, medians)
//! BENCH_QUICK=1 cargo bench --bench import   # smoke run: small files, one run
//! ```
//!
//! It builds the release binary (cargo does, for bench targets), creates a fresh database
//! (`bi_bench_<random>`), queue namespace and storage directory, generates the files, and
//! measures:
//!
//! - the reference (`psql`: `\copy` into a temp table + `INSERT … ON CONFLICT DO UPDATE`),
//!   into the project's table and into a copy without the tenant foreign key (the issue's
//!   independent reference), and the project end to end (HTTP upload → Redis → worker →
//!   `completed`), for new rows and for updates (the same IDs with other values), on the
//!   ~20 MB file; and the project re-uploading that changed file unchanged (every row
//!   `unchanged`, nothing rewritten), reported against the references' update time;
//! - contacts (each linked to an opportunity) and sales targets end to end against their
//!   own psql references (`\copy`, one upsert, for contacts one link insert);
//! - four ~20 MB uploads at once on two worker processes against one upload;
//! - how soon an idle worker starts a queued job (median of `created_at → started_at`);
//! - the engine alone (`batch-import import`) against the reference on the 1M-row file;
//! - peak memory (VmHWM) of the worker and of the `import` process, and the API's growth
//!   while it receives the 20 MB upload;
//! - many small jobs: uploads of a few rows from concurrent clients, two worker processes;
//! - a realistic file (`$1,234.00` amounts, US dates, a share of bad rows) end to end;
//! - a ~20 MB Excel workbook of opportunities end to end (time, worker peak memory);
//! - the hostile-input suite's files (`tests/faults/hostile/bombs.rs`) through the engine
//!   (`import`): its peak memory on each against the 256 MB budget, beside the ordinary
//!   20 MB file's;
//! - a noisy neighbour (issue 19): tenant A queues a backlog of upload-sized files, then
//!   tenant B uploads 10 rows, on two workers of one slot each without a per-tenant cap:
//!   B's wait (`created_at → started_at`) against A's mean run, in the fair order and in
//!   the old first-in-first-out one (`JOB_PICK_ORDER=fifo`), and A's throughput alone
//!   in both orders; and the time of one fair pick (`claim_next`) among many queued jobs
//!   of many tenants.
//!
//! - what keeping before-images for an undo (issue 22) costs: the engine in this process
//!   with `job_id: None` (the statement before undo) against `job_id: Some(job)`, new
//!   rows and updates, alternated, and the disk the before-images and stamps take
//!   (`support::undo`).
//!
//! `BENCH_ONLY=fairness` runs only the noisy-neighbour section (and the pick timing),
//! `BENCH_ONLY=undo` only the undo section.
//!
//! Medians of `BENCH_RUNS` runs go into a Markdown table with the targets. Missed
//! targets do not fail the run (this machine is noisy); errors (wrong counts, a process
//! that fails) do. Options are environment variables, see [`Options::from_env`].

mod support;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use sqlx::PgPool;

use support::{
    generator::{self, Spec, Style},
    procs::{Service, reset_peak, run_measured, run_measured_to_end, status_kib},
    reference::{self, NO_FK_TABLE, Reference},
    report::{self, Line, group, median, mib, spread},
};

/// Targets of the issue (10, part 3): end to end against the reference, with or without
/// the foreign key; contacts and sales targets against their own psql references.
const E2E_MAX_RATIO: f64 = 1.0;
/// The memory budget of a worker (issue 18; the manifests' limit): no hostile file may
/// take the engine past it.
const HOSTILE_MAX_PEAK_MIB: f64 = 256.0;
/// Four uploads at once on two workers, against one upload.
const CONCURRENT_MAX_RATIO: f64 = 4.4;
/// Median time from a job's row being queued to a worker starting it.
const PICKUP_MAX_MS: f64 = 50.0;
/// Re-uploading an unchanged file, against the reference's update (issue 10).
const UNCHANGED_MAX_RATIO: f64 = 0.5;
const ENGINE_MIN_RATE_RATIO: f64 = 0.9;
const WORKER_MAX_PEAK_MIB: f64 = 64.0;
const API_MAX_GROWTH_MIB: f64 = 16.0;
const SMALL_MIN_JOBS_PER_SEC: f64 = 100.0;
/// "Memory must not grow with file size": the 1M-row import may peak this much above
/// the 20 MB one.
const FLAT_SLACK_MIB: f64 = 8.0;
/// Issue 19: A alone, the fair order's rows/s against the old order's.
const FAIR_MIN_THROUGHPUT_RATIO: f64 = 0.95;

/// Settings, from environment variables.
#[derive(Debug, Clone)]
struct Options {
    /// `BENCH_RUNS` (3; 1 in quick mode): runs of every measurement; medians are reported.
    runs: usize,
    /// `BENCH_ROWS` (94,000 ≈ 20 MB; 5,000 quick): rows of the upload-sized file.
    rows: u64,
    /// `BENCH_ROWS_1M` (1,000,000; 50,000 quick): rows of the engine file.
    rows_1m: u64,
    /// `BENCH_SMALL_JOBS` (500; 60 quick) uploads of `BENCH_SMALL_ROWS` (10) rows each,
    /// `BENCH_CLIENTS` (16) at a time, to `BENCH_SMALL_WORKERS` (2) worker processes.
    small_jobs: usize,
    small_rows: u64,
    clients: usize,
    small_workers: usize,
    /// `BENCH_XLSX_ROWS` (290,000; 5,000 quick): rows of the `.xlsx` upload, the
    /// generator's rows as a workbook (about 19.8 MB, under the 20 MiB limit).
    xlsx_rows: u64,
    /// `BENCH_BAD_SHARE` (0.02): share of bad rows in the realistic file.
    bad_share: f64,
    /// `BENCH_CONTACT_ROWS` (150,000; 5,000 quick): rows of the contacts file (each links
    /// to an opportunity of the upload-sized file).
    contact_rows: u64,
    /// `BENCH_TARGET_ROWS` (150,000; 5,000 quick): rows of the sales targets file.
    target_rows: u64,
    /// `BENCH_CONCURRENT` (4): uploads sent at once to `BENCH_CONCURRENT_WORKERS` (2)
    /// worker processes of one job each; 0 skips the measurement.
    concurrent: usize,
    concurrent_workers: usize,
    /// `BENCH_PICKUP_JOBS` (20; 5 quick): tiny uploads per run to an idle worker, for the
    /// pickup latency (queued → started).
    pickup_jobs: usize,
    /// `BENCH_FAIR_JOBS` (12; 6 quick): the noisy neighbour's backlog, upload-sized files
    /// with disjoint IDs; 0 skips the section.
    fair_jobs: usize,
    /// `BENCH_PICK_JOBS` (10,000) queued jobs of `BENCH_PICK_TENANTS` (100) tenants, for
    /// the time of one fair pick; 0 skips it.
    pick_jobs: u64,
    pick_tenants: u64,
    /// `BENCH_UNDO_RUNS` (7; 3 quick): timed rounds of the undo section, each of both
    /// variants on both paths; 0 skips the section.
    undo_runs: usize,
    /// `BENCH_ONLY`: `fairness` runs only the noisy-neighbour section and the pick timing,
    /// `undo` only the undo section.
    only: Option<String>,
    /// `BENCH_DATABASE_SERVER` (postgres://postgres@127.0.0.1:5432).
    database_server: String,
    /// `BENCH_REDIS_URL` (redis://127.0.0.1:6379).
    redis_url: String,
    /// `BENCH_BIN`: the `batch-import` binary (default: the one cargo built for this bench).
    bin: PathBuf,
    /// `BENCH_DIR`: where files, storage and logs go (default: a temporary directory,
    /// removed at the end; a given directory is kept, and generated files are reused).
    dir: Option<PathBuf>,
}

impl Options {
    fn from_env() -> anyhow::Result<Self> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
            || std::env::args().any(|a| a == "--quick");
        fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            match std::env::var(name) {
                // `1_000_000` is fine for numbers.
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .or_else(|_| v.trim().replace('_', "").parse())
                    .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
                _ => Ok(default),
            }
        }
        fn pick<T>(quick: bool, full: T, small: T) -> T {
            if quick { small } else { full }
        }
        let q = |full: u64, small: u64| pick(quick, full, small);
        let options = Self {
            runs: var("BENCH_RUNS", pick(quick, 3, 1))?,
            rows: var("BENCH_ROWS", q(94_000, 5_000))?,
            rows_1m: var("BENCH_ROWS_1M", q(1_000_000, 50_000))?,
            small_jobs: var("BENCH_SMALL_JOBS", pick(quick, 500, 60))?,
            small_rows: var("BENCH_SMALL_ROWS", 10)?,
            clients: var("BENCH_CLIENTS", 16)?,
            small_workers: var("BENCH_SMALL_WORKERS", 2)?,
            bad_share: var("BENCH_BAD_SHARE", 0.02)?,
            contact_rows: var("BENCH_CONTACT_ROWS", q(150_000, 5_000))?,
            xlsx_rows: var("BENCH_XLSX_ROWS", q(290_000, 5_000))?,
            target_rows: var("BENCH_TARGET_ROWS", q(150_000, 5_000))?,
            concurrent: var("BENCH_CONCURRENT", 4)?,
            concurrent_workers: var("BENCH_CONCURRENT_WORKERS", 2)?,
            pickup_jobs: var("BENCH_PICKUP_JOBS", pick(quick, 20, 5))?,
            fair_jobs: var("BENCH_FAIR_JOBS", pick(quick, 12, 6))?,
            pick_jobs: var("BENCH_PICK_JOBS", 10_000)?,
            pick_tenants: var("BENCH_PICK_TENANTS", 100)?,
            undo_runs: var("BENCH_UNDO_RUNS", pick(quick, 7, 3))?,
            only: std::env::var("BENCH_ONLY")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            database_server: var(
                "BENCH_DATABASE_SERVER",
                "postgres://postgres@127.0.0.1:5432".to_owned(),
            )?,
            redis_url: var("BENCH_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            bin: var(
                "BENCH_BIN",
                PathBuf::from(env!("CARGO_BIN_EXE_batch-import")),
            )?,
            dir: std::env::var_os("BENCH_DIR").map(PathBuf::from),
        };
        ensure!(options.runs > 0, "BENCH_RUNS must be at least 1");
        ensure!(
            matches!(options.only.as_deref(), None | Some("fairness" | "undo")),
            "BENCH_ONLY: only `fairness` and `undo` are known"
        );
        ensure!(
            options.pick_tenants > 0,
            "BENCH_PICK_TENANTS must be at least 1"
        );
        ensure!(options.clients > 0 && options.small_workers > 0);
        ensure!(
            options.concurrent_workers > 0 && options.contact_rows > 0 && options.target_rows > 0
        );
        Ok(options)
    }
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nbenchmark error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let options = Options::from_env()?;
    let (temp, dir) = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (None, dir.clone())
        }
        None => {
            let temp = tempfile::Builder::new().prefix("bi-bench-").tempdir()?;
            let dir = temp.path().to_owned();
            (Some(temp), dir)
        }
    };
    eprintln!(
        "batch-import benchmark: binary {}, work dir {}",
        options.bin.display(),
        dir.display()
    );
    ensure!(
        options.bin.exists(),
        "{} does not exist (set BENCH_BIN)",
        options.bin.display()
    );
    if options.only.as_deref() == Some("undo") {
        let (upload, changed) = upload_files(&options, &dir)?;
        let mut bench = Bench::setup(&options, &dir).await?;
        let measured = bench.undo(&upload, &changed).await;
        bench.cleanup().await;
        drop(temp);
        if let Some(undo) = measured? {
            undo.print(options.rows, &upload.label(), &changed.label());
        }
        return Ok(());
    }
    let backlog = backlog_files(&options, &dir)?;
    if options.only.as_deref() == Some("fairness") {
        let mut bench = Bench::setup(&options, &dir).await?;
        let mut results = Results::default();
        let measured = async {
            bench.start_api().await?;
            bench.fairness(&backlog, &mut results).await
        }
        .await;
        bench.cleanup().await;
        drop(temp);
        measured?;
        results.print_fairness(&options, &backlog);
        return Ok(());
    }
    let files = generate_files(&options, &dir)?;
    let mut bench = Bench::setup(&options, &dir).await?;
    // The undo section first: it runs the engine in this process and needs no service
    // (a worker would claim its job rows).
    let measured = async {
        let undo = bench.undo(&files.upload, &files.changed).await?;
        Ok::<_, anyhow::Error>((undo, bench.measure_all(&files, &backlog).await?))
    }
    .await;
    bench.cleanup().await;
    drop(temp);
    let (undo, results) = measured?;
    results.print(&options, &files);
    results.print_fairness(&options, &backlog);
    if let Some(undo) = undo {
        undo.print(options.rows, &files.upload.label(), &files.changed.label());
    }
    Ok(())
}

/// The noisy neighbour's backlog: upload-sized files with disjoint IDs (the first ones
/// are the concurrent uploads' files, reused).
fn backlog_files(options: &Options, dir: &Path) -> anyhow::Result<Vec<CsvFile>> {
    (0..options.fair_jobs as u64)
        .map(|k| {
            let name = format!("opps-{}-part{k}.csv", short(options.rows));
            opportunity_file(dir, name, part_spec(options, k))
        })
        .collect()
}

/// The `k`th upload-sized file with IDs of its own.
fn part_spec(options: &Options, k: u64) -> Spec {
    Spec {
        first_id: 10_000_000 * (k + 1),
        seed: 0x0bb0_3000 + k,
        ..Spec::clean(options.rows)
    }
}

/// A generated file.
#[derive(Debug, Clone)]
struct CsvFile {
    /// `opportunities`, `contacts` or `sales_targets`: the upload route and the table.
    kind: &'static str,
    path: PathBuf,
    rows: u64,
    bad_rows: u64,
    bytes: u64,
}

impl CsvFile {
    fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }

    fn label(&self) -> String {
        format!(
            "{} ({:.1} MB)",
            self.name(),
            self.bytes as f64 / 1_048_576.0
        )
    }
}

struct Files {
    /// Upload-sized, clean: for the reference and the project end to end.
    upload: CsvFile,
    /// The same IDs as `upload` with other values: the project's update case, then
    /// uploaded again as the unchanged case.
    changed: CsvFile,
    /// The engine file, clean.
    big: CsvFile,
    /// Upload-sized, realistic values and bad rows: the project only.
    realistic: CsvFile,
    /// The generator's rows as an Excel workbook, near the upload limit: the project only.
    xlsx: CsvFile,
    /// The small jobs' files, in memory.
    small: Vec<Vec<u8>>,
    /// Contacts linked to the opportunities of `upload`.
    contacts: CsvFile,
    /// Sales targets.
    targets: CsvFile,
    /// Upload-sized files with disjoint IDs, uploaded at once.
    concurrent: Vec<CsvFile>,
}

/// An opportunities file in `dir`. A kept BENCH_DIR reuses files: the generator is
/// deterministic. The size is checked against a dry run into a counting sink.
fn opportunity_file(dir: &Path, name: String, spec: Spec) -> anyhow::Result<CsvFile> {
    let path = dir.join(name);
    let expected = generator::write(&mut std::io::sink(), &spec)?;
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(expected.bytes) {
        generator::write_file(&path, &spec)?;
    }
    Ok(CsvFile {
        kind: "opportunities",
        path,
        rows: expected.rows,
        bad_rows: expected.bad_rows,
        bytes: expected.bytes,
    })
}

/// The upload-sized file and the same IDs with other values.
fn upload_files(options: &Options, dir: &Path) -> anyhow::Result<(CsvFile, CsvFile)> {
    let upload = opportunity_file(
        dir,
        format!("opps-{}.csv", short(options.rows)),
        Spec::clean(options.rows),
    )?;
    let changed = opportunity_file(
        dir,
        format!("opps-{}-changed.csv", short(options.rows)),
        Spec {
            seed: 0x0bb0_2027,
            ..Spec::clean(options.rows)
        },
    )?;
    Ok((upload, changed))
}

fn generate_files(options: &Options, dir: &Path) -> anyhow::Result<Files> {
    let started = Instant::now();
    let file = |name: String, spec: Spec| opportunity_file(dir, name, spec);
    let (upload, changed) = upload_files(options, dir)?;
    let big = file(
        format!("opps-{}.csv", short(options.rows_1m)),
        Spec::clean(options.rows_1m),
    )?;
    let realistic = file(
        format!("opps-{}-realistic.csv", short(options.rows)),
        Spec {
            style: Style::Realistic,
            bad_share: options.bad_share,
            seed: 7,
            ..Spec::clean(options.rows)
        },
    )?;
    let xlsx = {
        let path = dir.join(format!("opps-{}.xlsx", short(options.xlsx_rows)));
        let spec = Spec {
            first_id: 600_000_000,
            ..Spec::clean(options.xlsx_rows)
        };
        // Rebuilt every time: a workbook's bytes are not predictable from its rows.
        let generated = support::workbook::write_xlsx(&path, &spec)?;
        CsvFile {
            kind: "opportunities",
            path,
            rows: generated.rows,
            bad_rows: 0,
            bytes: generated.bytes,
        }
    };
    let small = (0..options.small_jobs as u64)
        .map(|i| {
            generator::to_bytes(&Spec {
                first_id: 100_000_000 + i * options.small_rows,
                ..Spec::clean(options.small_rows)
            })
        })
        .collect();
    // Contacts and sales targets: the same reuse rule, other generators.
    let other = |kind: &'static str,
                 name: String,
                 write: &dyn Fn(
        &mut dyn std::io::Write,
    ) -> std::io::Result<generator::Generated>|
     -> anyhow::Result<CsvFile> {
        let path = dir.join(name);
        let expected = write(&mut std::io::sink())?;
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(expected.bytes) {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            write(&mut out)?;
            std::io::Write::flush(&mut out)?;
        }
        Ok(CsvFile {
            kind,
            path,
            rows: expected.rows,
            bad_rows: 0,
            bytes: expected.bytes,
        })
    };
    let contacts = other(
        "contacts",
        format!("contacts-{}.csv", short(options.contact_rows)),
        &|out| generator::write_contacts(&mut { out }, options.contact_rows, options.rows, 0xc0de),
    )?;
    let targets = other(
        "sales_targets",
        format!("targets-{}.csv", short(options.target_rows)),
        &|out| generator::write_targets(&mut { out }, options.target_rows, 0x7a29),
    )?;
    let concurrent = (0..options.concurrent as u64)
        .map(|k| {
            file(
                format!("opps-{}-part{k}.csv", short(options.rows)),
                part_spec(options, k),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "files ready in {:.1} s: {}, {}, {} ({} bad rows), {}, {}, {}, {} concurrent",
        started.elapsed().as_secs_f64(),
        upload.label(),
        big.label(),
        realistic.label(),
        realistic.bad_rows,
        xlsx.label(),
        contacts.label(),
        targets.label(),
        concurrent.len()
    );
    Ok(Files {
        upload,
        changed,
        big,
        realistic,
        xlsx,
        small,
        contacts,
        targets,
        concurrent,
    })
}

/// The 1-minute load average (`/proc/loadavg`), to tell how busy the shared machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// 94000 → "94k", 1000000 → "1m".
fn short(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}m", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// What a finished import reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    original: i64,
    imported: i64,
    errors: i64,
}

/// What became of a job's imported rows: created, updated, unchanged.
fn outcomes(job: &Value) -> [i64; 3] {
    ["created_rows", "updated_rows", "unchanged_rows"].map(|k| job[k].as_i64().unwrap_or(-1))
}

impl Counts {
    fn expected(file: &CsvFile) -> Self {
        Self {
            original: file.rows as i64,
            imported: (file.rows - file.bad_rows) as i64,
            errors: file.bad_rows as i64,
        }
    }

    fn from_job(job: &Value) -> Self {
        let n = |k: &str| job[k].as_i64().unwrap_or(-1);
        Self {
            original: n("total_original_rows"),
            imported: n("total_imported_rows"),
            errors: n("total_error_rows"),
        }
    }

    fn from_import_output(stdout: &str) -> Self {
        let n = |k: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('=')?.trim().parse().ok())
                .unwrap_or(-1)
        };
        Self {
            original: n("total_original_rows"),
            imported: n("total_imported_rows"),
            errors: n("total_error_rows"),
        }
    }
}

/// The isolated environment of one benchmark run set.
struct Bench {
    options: Options,
    dir: PathBuf,
    database: String,
    database_url: String,
    namespace: String,
    env: Vec<(String, String)>,
    base_url: String,
    pool: PgPool,
    tenant_id: String,
    tenant: String,
    key: String,
    /// An admin key of a second tenant (`bench-b`), the noisy neighbour's victim.
    b_key: String,
    client: reqwest::Client,
    api: Option<Service>,
    workers: Vec<Service>,
}

impl Bench {
    async fn setup(options: &Options, dir: &Path) -> anyhow::Result<Self> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let database = format!("bi_bench_{id}");
        let database_url = format!(
            "{}/{database}",
            options.database_server.trim_end_matches('/')
        );
        let namespace = format!("bi-bench-{id}");
        let storage = dir.join("storage");
        let _ = std::fs::remove_dir_all(&storage);
        std::fs::create_dir_all(&storage)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &options.redis_url),
            // No error emails are asked for; nothing listens there.
            ("SMTP_URL", "smtp://127.0.0.1:9"),
            ("STORAGE_DIR", &storage.display().to_string()),
            ("LISTEN_ADDR", &format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", &base_url),
            ("QUEUE_NAMESPACE", &namespace),
            ("AUTO_MIGRATE", "false"),
            // The small-jobs run sends uploads with one key as fast as it can, and may have
            // all of them waiting at once: one tenant's throughput is measured here, not the
            // per-tenant queue limit (the fairness section measures the scheduler).
            ("RATE_LIMIT_RPS", "0"),
            ("TENANT_MAX_QUEUED", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if std::env::var_os("RUST_LOG").is_none() {
            env.push(("RUST_LOG".into(), "info,sqlx=warn".into()));
        }
        let tenant = "bench".to_owned();
        eprintln!("database {database}, queue namespace {namespace}, API {base_url}");

        let bin = options.bin.clone();
        let run = |args: Vec<String>| {
            let (bin, env) = (bin.clone(), env.clone());
            tokio::task::spawn_blocking(move || run_measured(&bin, &args, &env))
        };
        run(vec!["migrate".into()]).await??;
        // The bench's tenant, and the noisy neighbour's second one.
        let create_key = |tenant: &str| {
            let args = [
                "keys",
                "create",
                "--tenant",
                tenant,
                "--email",
                &format!("bench@{tenant}.example.com"),
                "--admin",
            ]
            .map(str::to_owned)
            .to_vec();
            let created = run(args);
            async move {
                let created = created.await??;
                anyhow::Ok(
                    created
                        .stdout
                        .lines()
                        .last()
                        .context("`keys create` printed nothing")?
                        .trim()
                        .to_owned(),
                )
            }
        };
        let key = create_key(&tenant).await?;
        let b_key = create_key("bench-b").await?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&database_url)
            .await?;
        let tenant_id: String = sqlx::query_scalar("SELECT id::text FROM tenants WHERE slug = $1")
            .bind(&tenant)
            .fetch_one(&pool)
            .await?;
        sqlx::query(reference::NO_FK_DDL).execute(&pool).await?;
        Ok(Self {
            options: options.clone(),
            dir: dir.to_owned(),
            database,
            database_url,
            namespace,
            env,
            base_url,
            pool,
            tenant_id,
            tenant,
            key,
            b_key,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()?,
            api: None,
            workers: Vec::new(),
        })
    }

    fn env_with(&self, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }

    async fn start_api(&mut self) -> anyhow::Result<()> {
        let log = self.dir.join("api.log");
        let mut api = Service::spawn(
            "the API",
            &self.options.bin,
            &["serve", "--no-migrate"],
            &self.env,
            log,
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            api.check_alive()?;
            let ready = self
                .client
                .get(format!("{}/api/v1/readyz", self.base_url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "the API did not get ready in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.api = Some(api);
        Ok(())
    }

    /// Replaces the running workers with `count` processes of `concurrency` jobs each,
    /// and waits until they take jobs.
    async fn start_workers(&mut self, count: usize, concurrency: usize) -> anyhow::Result<()> {
        self.start_workers_with(count, concurrency, &[]).await
    }

    /// [`Bench::start_workers`] with more environment variables for the workers.
    async fn start_workers_with(
        &mut self,
        count: usize,
        concurrency: usize,
        extra: &[(&str, String)],
    ) -> anyhow::Result<()> {
        for worker in self.workers.drain(..) {
            worker.stop(Duration::from_secs(30)).await;
        }
        let mut env = self.env_with(&[("WORKER_CONCURRENCY", concurrency.to_string())]);
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        for i in 0..count {
            let log = self
                .dir
                .join(format!("worker-{count}x{concurrency}-{i}.log"));
            let name = format!("worker {i}");
            let worker = Service::spawn(
                &name,
                &self.options.bin,
                &["work", "--no-migrate"],
                &env,
                log,
            )?;
            self.workers.push(worker);
        }
        // Warm-up: a few tiny jobs through every worker slot.
        let warmup: Vec<Vec<u8>> = (0..(count * concurrency * 2) as u64)
            .map(|i| {
                generator::to_bytes(&Spec {
                    first_id: 900_000_000 + i * 3,
                    ..Spec::clean(3)
                })
            })
            .collect();
        for (i, bytes) in warmup.into_iter().enumerate() {
            let id = self.upload_bytes(format!("warmup-{i}.csv"), bytes).await?;
            let job = self.wait_for(&id, Duration::from_secs(60)).await?;
            ensure!(
                Counts::from_job(&job).imported == 3,
                "warm-up job went wrong: {job}"
            );
        }
        Ok(())
    }

    fn api(&self) -> &Service {
        self.api.as_ref().expect("the API runs")
    }

    fn check_services(&mut self) -> anyhow::Result<()> {
        if let Some(api) = &mut self.api {
            api.check_alive()?;
        }
        for worker in &mut self.workers {
            worker.check_alive()?;
        }
        Ok(())
    }

    /// The undo section (`support::undo`) on the upload-sized file and its changed
    /// version, with the engine's settings as the workers load them; `None` when
    /// `BENCH_UNDO_RUNS` is 0.
    async fn undo(
        &self,
        upload: &CsvFile,
        changed: &CsvFile,
    ) -> anyhow::Result<Option<support::undo::UndoResults>> {
        if self.options.undo_runs == 0 {
            return Ok(None);
        }
        ensure!(upload.bad_rows == 0 && changed.rows == upload.rows);
        let settings = batch_import::config::Settings::load_from(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config"
        )))?;
        // As a worker's pool: its options (no JIT), a connection per writer and spare.
        let pool = batch_import::db::pool(&self.database_url, settings.import_writers as u32 + 2)?;
        eprintln!(
            "undo: job_id None against Some, {} rounds",
            self.options.undo_runs
        );
        let measured = support::undo::measure(&support::undo::Setup {
            pool: &pool,
            tenant_id: self.tenant_id.parse()?,
            upload: &upload.path,
            changed: &changed.path,
            rows: upload.rows,
            dir: &self.dir,
            runs: self.options.undo_runs,
            chunk_rows: settings.import_chunk_rows,
            writers: settings.import_writers,
        })
        .await;
        pool.close().await;
        measured.map(Some)
    }

    /// Empties the table (fresh, as for a first import) and flushes dirty pages so a
    /// checkpoint does not land in the middle of the next measurement.
    async fn empty_table(&self) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "TRUNCATE opportunities, contacts, sales_targets, {NO_FK_TABLE} CASCADE"
        ))
        .execute(&self.pool)
        .await?;
        self.settle().await
    }

    async fn settle(&self) -> anyhow::Result<()> {
        sqlx::query("CHECKPOINT").execute(&self.pool).await?;
        Ok(())
    }

    /// Empties one table of the contacts or sales targets (and the links of contacts).
    async fn empty(&self, table: &str) -> anyhow::Result<()> {
        sqlx::query(&format!("TRUNCATE {table} CASCADE"))
            .execute(&self.pool)
            .await?;
        self.settle().await
    }

    async fn count_rows(&self, table: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE tenant_id = $1::uuid"
        ))
        .bind(&self.tenant_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn expect_rows(&self, what: &str, expected: u64) -> anyhow::Result<()> {
        self.expect_rows_in("opportunities", what, expected).await
    }

    async fn expect_rows_in(&self, table: &str, what: &str, expected: u64) -> anyhow::Result<()> {
        let count = self.count_rows(table).await?;
        ensure!(
            count == expected as i64,
            "{what}: {table} holds {count} rows, expected {expected}"
        );
        if table == "contacts" {
            // Every contact of the generated file links to one opportunity.
            let links: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_opportunities")
                .fetch_one(&self.pool)
                .await?;
            ensure!(
                links == expected as i64,
                "{what}: {links} contact links, expected {expected}"
            );
        }
        Ok(())
    }

    /// A digest of the imported values, to check the reference and the project agree.
    async fn digest(&self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(md5(string_agg((external_opp_id, name, amount, close_date, stage, \
             owner_name, owner_email, external_account_id, account, website, type, next_step)::text, \
             E'\\n' ORDER BY external_opp_id)), '') \
             FROM opportunities WHERE tenant_id = $1::uuid",
        )
        .bind(&self.tenant_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The reference into the project's `opportunities` (with the tenant foreign key).
    async fn reference(&self, file: &CsvFile) -> anyhow::Result<f64> {
        self.reference_into("opportunities", file).await
    }

    /// The psql reference of `file` into `table`: the project's table of the file's kind,
    /// or the opportunities table without a foreign key ([`NO_FK_TABLE`]).
    async fn reference_into(&self, table: &str, file: &CsvFile) -> anyhow::Result<f64> {
        let script = match file.kind {
            "contacts" => reference::contacts_script(&self.tenant_id, &file.path),
            "sales_targets" => reference::targets_script(&self.tenant_id, &file.path),
            _ => reference::script(table, &self.tenant_id, &file.path),
        };
        let reference = Reference::new(
            &self.database_url,
            &script,
            self.dir
                .join(format!("reference-{table}-{}.sql", file.name())),
        )?;
        let measured = tokio::task::spawn_blocking(move || reference.run()).await??;
        self.expect_rows_in(table, "reference", file.rows).await?;
        Ok(measured.seconds)
    }

    /// `batch-import import` on `file`: seconds and peak memory (KiB).
    async fn engine(&self, file: &CsvFile) -> anyhow::Result<(f64, u64)> {
        let (bin, env) = (self.options.bin.clone(), self.env.clone());
        let args: Vec<String> = [
            "import",
            "--kind",
            "opportunities",
            "--tenant",
            &self.tenant,
            "--errors",
            &self.dir.join("engine-errors.csv").display().to_string(),
            &file.path.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        let measured =
            tokio::task::spawn_blocking(move || run_measured(&bin, &args, &env)).await??;
        let counts = Counts::from_import_output(&measured.stdout);
        ensure!(
            counts == Counts::expected(file),
            "`import` of {} reported {counts:?}, expected {:?}:\n{}",
            file.name(),
            Counts::expected(file),
            measured.stdout
        );
        self.expect_rows("import", file.rows - file.bad_rows)
            .await?;
        Ok((measured.seconds, measured.peak_kib))
    }

    /// Each hostile file through `batch-import import` and then end to end: (what, the
    /// `import` process' peak KiB, the worker's peak KiB, how `import` ended).
    async fn hostile(&mut self) -> anyhow::Result<Vec<(String, f64, f64, String)>> {
        let xls = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workbooks/sample.xls");
        let files = support::hostile::write_all(&self.dir, &xls)?;
        let mut measured = Vec::new();
        for (what, path) in files {
            let (bin, env) = (self.options.bin.clone(), self.env.clone());
            let args: Vec<String> = [
                "import",
                "--kind",
                "opportunities",
                "--tenant",
                &self.tenant,
                "--errors",
                &self.dir.join("hostile-errors.csv").display().to_string(),
                &path.display().to_string(),
            ]
            .map(str::to_owned)
            .to_vec();
            let (run, ended) =
                tokio::task::spawn_blocking(move || run_measured_to_end(&bin, &args, &env))
                    .await??;
            let outcome = match ended {
                Ok(()) => run
                    .stdout
                    .lines()
                    .filter(|l| l.starts_with("total_"))
                    .collect::<Vec<_>>()
                    .join(", "),
                // `exit status: 1: Error: <message>` then the cause chain.
                Err(e) => e
                    .lines()
                    .find_map(|l| l.split_once("Error: ").map(|(_, message)| message))
                    .unwrap_or("failed")
                    .chars()
                    .take(90)
                    .collect(),
            };
            // The same file end to end: the long-lived worker's peak while it runs it.
            let worker_pids: Vec<u32> = self.workers.iter().map(Service::pid).collect();
            for &pid in &worker_pids {
                reset_peak(pid)?;
            }
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let id = self.upload_bytes(name, std::fs::read(&path)?).await?;
            let job = self.wait_ended(&id, Duration::from_secs(600)).await?;
            let state = job["state"].as_str().unwrap_or_default();
            let worker_peak = worker_pids
                .iter()
                .filter_map(|&pid| status_kib(pid, "VmHWM"))
                .max()
                .context("worker VmHWM")? as f64;
            eprintln!(
                "  hostile {what}: `import` peak {}, worker peak {} (job {state}); {outcome}",
                mib(run.peak_kib as f64),
                mib(worker_peak)
            );
            measured.push((what, run.peak_kib as f64, worker_peak, outcome));
            std::fs::remove_file(&path)?;
            self.empty_table().await?;
        }
        self.check_services()?;
        Ok(measured)
    }

    /// Uploads `file` (streamed from disk) and polls until the job completes.
    async fn end_to_end(&self, file: &CsvFile) -> anyhow::Result<EndToEnd> {
        let worker_pids: Vec<u32> = self.workers.iter().map(Service::pid).collect();
        let api_pid = self.api().pid();
        reset_peak(api_pid)?;
        for &pid in &worker_pids {
            reset_peak(pid)?;
        }
        let api_before = status_kib(api_pid, "VmHWM").context("API VmHWM")?;

        let started = Instant::now();
        let id = self.upload_file(file).await?;
        let api_after = status_kib(api_pid, "VmHWM").context("API VmHWM")?;
        let job = self.wait_for(&id, Duration::from_secs(600)).await?;
        let seconds = started.elapsed().as_secs_f64();

        expect_job_counts(&job, file)?;
        self.expect_rows_in(file.kind, "upload", file.rows - file.bad_rows)
            .await?;
        let worker_peak = worker_pids
            .iter()
            .filter_map(|&pid| status_kib(pid, "VmHWM"))
            .max()
            .context("worker VmHWM")?;
        Ok(EndToEnd {
            seconds,
            api_growth_kib: api_after.saturating_sub(api_before),
            worker_peak_kib: worker_peak,
            outcomes: outcomes(&job),
        })
    }

    /// Uploads every file at once (streamed from disk); seconds from the start until the
    /// last job is completed. The files hold disjoint IDs.
    async fn concurrent_uploads(&self, files: &[CsvFile]) -> anyhow::Result<f64> {
        let started = Instant::now();
        let jobs = files.iter().map(|file| async move {
            let id = self.upload_file(file).await?;
            let job = self.wait_for(&id, Duration::from_secs(600)).await?;
            expect_job_counts(&job, file)?;
            Ok::<_, anyhow::Error>(())
        });
        futures::future::try_join_all(jobs).await?;
        let seconds = started.elapsed().as_secs_f64();
        self.expect_rows("concurrent uploads", files.iter().map(|f| f.rows).sum())
            .await?;
        Ok(seconds)
    }

    /// Tiny uploads, one at a time, each sent at a random moment to an idle worker: the
    /// milliseconds from the job's row being queued (`created_at`) until a worker started
    /// it (`started_at`), both Postgres clocks.
    async fn pickup(&self, run: usize) -> anyhow::Result<Vec<f64>> {
        let mut rng = generator::SplitMix64::new(run as u64);
        let mut samples = Vec::new();
        for i in 0..self.options.pickup_jobs as u64 {
            // A random phase against any poll interval.
            tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
            let bytes = generator::to_bytes(&Spec {
                first_id: 800_000_000 + run as u64 * 100_000 + i * 3,
                ..Spec::clean(3)
            });
            let id = self
                .upload_bytes(format!("pickup-{run}-{i}.csv"), bytes)
                .await?;
            self.wait_for(&id, Duration::from_secs(60)).await?;
            let ms: f64 = sqlx::query_scalar(
                "SELECT (extract(epoch FROM started_at - created_at) * 1000)::float8 \
                 FROM import_jobs WHERE id = $1::uuid",
            )
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
            samples.push(ms);
        }
        Ok(samples)
    }

    /// Uploads `file` streamed from disk in 64 KiB pieces, as a client would; the job's id.
    async fn upload_file(&self, file: &CsvFile) -> anyhow::Result<String> {
        let upload = tokio::fs::File::open(&file.path).await?;
        let length = upload.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            upload,
            64 * 1024,
        ));
        let part = reqwest::multipart::Part::stream_with_length(body, length)
            .file_name(file.name())
            .mime_str("text/csv")?;
        let response = self
            .client
            .post(format!("{}/api/v1/{}/upload", self.base_url, file.kind))
            .header("Authorization", &self.key)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?;
        job_id(response).await
    }

    async fn upload_bytes(&self, name: String, bytes: Vec<u8>) -> anyhow::Result<String> {
        upload_bytes(&self.client, &self.base_url, &self.key, name, bytes).await
    }

    /// Polls `GET /jobs/{id}` every 20 ms until the job is `completed` (an error when it
    /// ends otherwise or `timeout` passes).
    async fn wait_for(&self, id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let job = self.wait_ended(id, timeout).await?;
        ensure!(
            job["state"] == "completed",
            "job {id} did not complete: {job}"
        );
        Ok(job)
    }

    /// Polls `GET /jobs/{id}` every 20 ms until the job ends, whichever way (an error when
    /// `timeout` passes first); returns the job.
    async fn wait_ended(&self, id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let body: Value = self
                .client
                .get(format!("{}/api/v1/jobs/{id}", self.base_url))
                .header("Authorization", &self.key)
                .send()
                .await?
                .json()
                .await?;
            let job = &body["data"];
            match job["state"].as_str() {
                Some("queued" | "running") => {}
                Some(_) => return Ok(job.clone()),
                None => bail!("job {id}: {body}"),
            }
            ensure!(
                Instant::now() < deadline,
                "job {id} did not end within {timeout:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `files.len()` uploads from `clients` concurrent clients; seconds from the first
    /// upload's start until every job is completed.
    async fn small_jobs(&self, run: usize, files: &[Vec<u8>]) -> anyhow::Result<f64> {
        let prefix = format!("small-{run}-");
        let total = files.len() as i64;
        let client = &self.client;
        let (base, key) = (self.base_url.as_str(), self.key.as_str());
        let started = Instant::now();
        let uploads = futures::stream::iter(files.iter().enumerate())
            .map(|(i, bytes)| {
                upload_bytes(client, base, key, format!("{prefix}{i}.csv"), bytes.clone())
            })
            .buffer_unordered(self.options.clients)
            .try_collect::<Vec<String>>();
        let finished = async {
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let done: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM import_jobs WHERE file_name LIKE $1 \
                     AND state IN ('completed', 'failed', 'cancelled')",
                )
                .bind(format!("{prefix}%"))
                .fetch_one(&self.pool)
                .await?;
                if done == total {
                    return Ok::<_, anyhow::Error>(started.elapsed().as_secs_f64());
                }
                ensure!(
                    Instant::now() < deadline,
                    "small jobs did not finish in 600 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (ids, seconds) = tokio::try_join!(uploads, finished)?;
        ensure!(ids.len() == files.len());
        let good: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM import_jobs WHERE file_name LIKE $1 AND state = 'completed' \
             AND total_original_rows = $2 AND total_imported_rows = $2 AND total_error_rows = 0",
        )
        .bind(format!("{prefix}%"))
        .bind(self.options.small_rows as i64)
        .fetch_one(&self.pool)
        .await?;
        ensure!(
            good == total,
            "only {good} of {total} small jobs completed with the right counts"
        );
        Ok(seconds)
    }

    async fn measure_all(&mut self, files: &Files, backlog: &[CsvFile]) -> anyhow::Result<Results> {
        let runs = self.options.runs;
        let mut r = Results::default();
        r.load.push(format!("start {}", load_average()));
        self.start_api().await?;
        // One job at a time per worker for the big files, as the targets assume.
        self.start_workers(1, 1).await?;
        for run in 1..=runs {
            eprintln!("run {run}/{runs}");
            let upload = &files.upload;

            // The issue's independent reference: the same statements into a table without
            // the tenant foreign key.
            self.empty_table().await?;
            r.ref_nofk_new
                .push(self.reference_into(NO_FK_TABLE, upload).await?);
            self.settle().await?;
            r.ref_nofk_update
                .push(self.reference_into(NO_FK_TABLE, upload).await?);
            eprintln!(
                "  reference without foreign key {}: new {:.3} s, update {:.3} s",
                upload.name(),
                r.ref_nofk_new[run - 1],
                r.ref_nofk_update[run - 1]
            );

            self.empty_table().await?;
            r.ref_new.push(self.reference(upload).await?);
            let reference_digest = self.digest().await?;
            self.settle().await?;
            r.ref_update.push(self.reference(upload).await?);
            eprintln!(
                "  reference {}: new {:.3} s, update {:.3} s",
                upload.name(),
                r.ref_new[run - 1],
                r.ref_update[run - 1]
            );

            self.empty_table().await?;
            let new = self.end_to_end(upload).await?;
            let project_digest = self.digest().await?;
            ensure!(
                project_digest == reference_digest,
                "the project stored other values than the reference (digest {project_digest} vs {reference_digest})"
            );
            let rows = (upload.rows - upload.bad_rows) as i64;
            ensure!(new.outcomes == [rows, 0, 0], "new rows: {:?}", new.outcomes);
            self.settle().await?;
            let update = self.end_to_end(&files.changed).await?;
            ensure!(
                update.outcomes[0] == 0 && update.outcomes[1] > rows * 9 / 10,
                "updates: {:?}",
                update.outcomes
            );
            self.settle().await?;
            let unchanged = self.end_to_end(&files.changed).await?;
            ensure!(
                unchanged.outcomes == [0, 0, rows],
                "unchanged re-upload: {:?}",
                unchanged.outcomes
            );
            eprintln!(
                "  end to end {}: new {:.3} s, update {:.3} s ({} rows updated), unchanged {:.3} s; worker peak {}, API growth {}",
                upload.name(),
                new.seconds,
                update.seconds,
                update.outcomes[1],
                unchanged.seconds,
                mib(new.worker_peak_kib.max(update.worker_peak_kib) as f64),
                mib(new.api_growth_kib.max(update.api_growth_kib) as f64)
            );
            r.e2e_new.push(new.seconds);
            r.e2e_update.push(update.seconds);
            r.e2e_unchanged.push(unchanged.seconds);

            // Contacts link to the opportunities stored now (the IDs of `upload`).
            for (file, reference, project) in [
                (&files.contacts, &mut r.ref_contacts, &mut r.e2e_contacts),
                (&files.targets, &mut r.ref_targets, &mut r.e2e_targets),
            ] {
                self.empty(file.kind).await?;
                reference.push(self.reference_into(file.kind, file).await?);
                self.empty(file.kind).await?;
                let done = self.end_to_end(file).await?;
                ensure!(
                    done.outcomes == [file.rows as i64, 0, 0],
                    "{}: {:?}",
                    file.name(),
                    done.outcomes
                );
                project.push(done.seconds);
                r.worker_peak.push(done.worker_peak_kib as f64);
                r.api_growth.push(done.api_growth_kib as f64);
                eprintln!(
                    "  {}: reference {:.3} s, end to end {:.3} s",
                    file.name(),
                    reference[run - 1],
                    done.seconds
                );
            }
            for e in [new, update, unchanged] {
                r.worker_peak.push(e.worker_peak_kib as f64);
                r.api_growth.push(e.api_growth_kib as f64);
            }

            self.empty_table().await?;
            let (seconds, peak) = self.engine(upload).await?;
            r.engine_small.push(seconds);
            r.engine_small_peak.push(peak as f64);

            let big = &files.big;
            self.empty_table().await?;
            r.ref_big.push(self.reference(big).await?);
            self.empty_table().await?;
            let (seconds, peak) = self.engine(big).await?;
            r.engine_big.push(seconds);
            r.engine_big_peak.push(peak as f64);
            eprintln!(
                "  {}: reference {:.3} s, import {:.3} s (peak {}); import {}: {:.3} s (peak {})",
                big.name(),
                r.ref_big[run - 1],
                seconds,
                mib(peak as f64),
                upload.name(),
                r.engine_small[run - 1],
                mib(r.engine_small_peak[run - 1])
            );

            self.empty_table().await?;
            let realistic = self.end_to_end(&files.realistic).await?;
            r.e2e_realistic.push(realistic.seconds);
            self.empty_table().await?;
            let xlsx = self.end_to_end(&files.xlsx).await?;
            r.e2e_xlsx.push(xlsx.seconds);
            r.xlsx_worker_peak.push(xlsx.worker_peak_kib as f64);
            eprintln!(
                "  end to end {}: {:.3} s, worker peak {}",
                files.xlsx.name(),
                xlsx.seconds,
                mib(xlsx.worker_peak_kib as f64)
            );
            eprintln!(
                "  end to end {}: {:.3} s",
                files.realistic.name(),
                realistic.seconds
            );
            let pickups = self.pickup(run).await?;
            eprintln!(
                "  idle pickup (queued → started), {} jobs: median {:.1} ms",
                pickups.len(),
                median(&pickups)
            );
            r.pickup_ms.extend(pickups);
            r.load.push(format!("run {run} {}", load_average()));
            self.check_services()?;
        }

        r.hostile = self.hostile().await?;

        if !files.concurrent.is_empty() {
            self.start_workers(self.options.concurrent_workers, 1)
                .await?;
            for _ in 0..runs {
                self.empty_table().await?;
                let one = self.concurrent_uploads(&files.concurrent[..1]).await?;
                self.empty_table().await?;
                let all = self.concurrent_uploads(&files.concurrent).await?;
                eprintln!(
                    "  {} workers: one upload {one:.3} s, {} at once {all:.3} s ({:.2}×)",
                    self.options.concurrent_workers,
                    files.concurrent.len(),
                    all / one
                );
                r.one_upload.push(one);
                r.all_uploads.push(all);
                self.check_services()?;
            }
        }

        let (workers, concurrency) = (self.options.small_workers, 2);
        self.start_workers(workers, concurrency).await?;
        for run in 1..=runs {
            self.empty_table().await?;
            let seconds = self.small_jobs(run, &files.small).await?;
            eprintln!(
                "  {} small jobs: {:.3} s, {:.1} jobs/s",
                files.small.len(),
                seconds,
                files.small.len() as f64 / seconds
            );
            r.small.push(files.small.len() as f64 / seconds);
            self.check_services()?;
        }
        self.fairness(backlog, &mut r).await?;
        r.load.push(format!("end {}", load_average()));
        Ok(r)
    }

    /// The noisy neighbour (issue 19), `runs` times in each order, and the pick timing.
    async fn fairness(&mut self, backlog: &[CsvFile], r: &mut Results) -> anyhow::Result<()> {
        if !backlog.is_empty() {
            let runs = self.options.runs;
            for run in 1..=runs {
                eprintln!("noisy neighbour, run {run}/{runs}");
                for (order, with_b) in [
                    ("fifo", true),
                    ("fair", true),
                    ("fifo", false),
                    ("fair", false),
                ] {
                    let n = self.noisy_neighbour(order, backlog, with_b).await?;
                    let fair = order == "fair";
                    match n.b_wait {
                        Some(wait) => {
                            eprintln!(
                                "  {order}: B waited {wait:.3} s; A's mean run {:.3} s",
                                n.a_mean_run
                            );
                            if fair {
                                r.fair_b_wait.push(wait);
                                r.fair_a_run.push(n.a_mean_run);
                            } else {
                                r.fifo_b_wait.push(wait);
                                r.fifo_a_run.push(n.a_mean_run);
                            }
                        }
                        None => {
                            eprintln!(
                                "  {order}, A alone: {:.0} rows/s ({:.3} s for {} jobs)",
                                n.a_rows_per_sec,
                                n.a_span,
                                backlog.len()
                            );
                            if fair {
                                r.fair_alone_rate.push(n.a_rows_per_sec);
                            } else {
                                r.fifo_alone_rate.push(n.a_rows_per_sec);
                            }
                        }
                    }
                    self.check_services()?;
                }
            }
        }
        if self.options.pick_jobs > 0 {
            for worker in self.workers.drain(..) {
                worker.stop(Duration::from_secs(30)).await;
            }
            r.pick_ms = self.pick_timing().await?;
            eprintln!(
                "  fair pick among {} queued jobs of {} tenants: median {:.2} ms",
                self.options.pick_jobs,
                self.options.pick_tenants,
                median(&r.pick_ms)
            );
        }
        Ok(())
    }

    /// Tenant A uploads `backlog` one file after the other to two workers of one slot
    /// each (no per-tenant cap, `JOB_PICK_ORDER=order`); then, `with_b`, tenant B uploads
    /// 10 rows. Waits for every job and checks the counts and rows.
    async fn noisy_neighbour(
        &mut self,
        order: &str,
        backlog: &[CsvFile],
        with_b: bool,
    ) -> anyhow::Result<Noisy> {
        self.start_workers_with(
            2,
            1,
            &[
                ("TENANT_MAX_RUNNING", "0".into()),
                ("JOB_PICK_ORDER", order.into()),
            ],
        )
        .await?;
        // After the workers' warm-up jobs, whose rows are A's too.
        self.empty_table().await?;
        let mut a = Vec::new();
        for file in backlog {
            a.push(self.upload_file(file).await?);
        }
        let b = if with_b {
            let bytes = generator::to_bytes(&Spec {
                first_id: 700_000_000,
                ..Spec::clean(10)
            });
            let (client, base) = (&self.client, &self.base_url);
            Some(upload_bytes(client, base, &self.b_key, "victim.csv".into(), bytes).await?)
        } else {
            None
        };
        for (id, file) in a.iter().zip(backlog) {
            let job = self.wait_for(id, Duration::from_secs(1200)).await?;
            expect_job_counts(&job, file)?;
        }
        self.expect_rows(
            "noisy neighbour",
            backlog.iter().map(|f| f.rows - f.bad_rows).sum(),
        )
        .await?;
        let (a_mean_run, a_span): (f64, f64) = sqlx::query_as(
            "SELECT extract(epoch FROM avg(finished_at - started_at))::float8,
                    extract(epoch FROM max(finished_at) - min(started_at))::float8
               FROM import_jobs WHERE id::text = ANY($1) AND attempts = 1",
        )
        .bind(&a)
        .fetch_one(&self.pool)
        .await?;
        let b_wait = match &b {
            Some(id) => {
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let (state, imported, wait): (String, Option<i64>, Option<f64>) =
                        sqlx::query_as(
                            "SELECT state, total_imported_rows,
                                    extract(epoch FROM started_at - created_at)::float8
                               FROM import_jobs WHERE id = $1::uuid",
                        )
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                    match state.as_str() {
                        "completed" => {
                            ensure!(imported == Some(10), "B's job imported {imported:?} rows");
                            break wait;
                        }
                        "queued" | "running" => {}
                        other => bail!("B's job ended {other}"),
                    }
                    ensure!(Instant::now() < deadline, "B's job did not complete");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            None => None,
        };
        let rows: u64 = backlog.iter().map(|f| f.rows).sum();
        Ok(Noisy {
            b_wait,
            a_mean_run,
            a_span,
            a_rows_per_sec: rows as f64 / a_span,
        })
    }

    /// Milliseconds per fair pick (`claim_next`) with `pick_jobs` queued jobs spread over
    /// `pick_tenants` tenants (no worker runs): 200 picks, each starting one job.
    async fn pick_timing(&self) -> anyhow::Result<Vec<f64>> {
        let (jobs, tenants) = (
            self.options.pick_jobs as i64,
            self.options.pick_tenants as i64,
        );
        sqlx::query(
            "INSERT INTO tenants (id, slug)
             SELECT gen_random_uuid(), 'pick-' || t FROM generate_series(1, $1) t",
        )
        .bind(tenants)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, is_admin)
             SELECT gen_random_uuid(), id, 'pick@' || slug || '.example.com', true
               FROM tenants WHERE slug LIKE 'pick-%'",
        )
        .execute(&self.pool)
        .await?;
        // Created a millisecond apart, the tenants' jobs interleaved.
        sqlx::query(
            "INSERT INTO import_jobs (id, tenant_id, user_id, kind, file_name, file_size, created_at)
             SELECT gen_random_uuid(), u.tenant_id, u.id, 'opportunities', 'pick.csv', 1,
                    now() - interval '1 hour' + j * interval '1 millisecond'
               FROM generate_series(0, $1 - 1) j
               JOIN (SELECT id, tenant_id, row_number() OVER (ORDER BY id) - 1 AS n
                       FROM users WHERE email LIKE 'pick@pick-%') u ON u.n = j % $2",
        )
        .bind(jobs)
        .bind(tenants)
        .execute(&self.pool)
        .await?;
        sqlx::query("ANALYZE import_jobs")
            .execute(&self.pool)
            .await?;
        let rules = batch_import::db::schedule::PickRules {
            order: batch_import::db::schedule::PickOrder::Fair,
            tenant_max_running: 4,
            max_attempts: 5,
            max_lost_runs: 3,
        };
        let mut samples = Vec::new();
        for i in 0..200.min(jobs) {
            let lease = batch_import::db::jobs::Lease {
                owner: format!("bench-pick-{i}"),
                duration: Duration::from_secs(600),
            };
            let started = Instant::now();
            let picked = batch_import::db::schedule::claim_next(&self.pool, &lease, rules).await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            ensure!(picked.is_some(), "pick {i} found no job");
        }
        sqlx::query("DELETE FROM tenants WHERE slug LIKE 'pick-%'")
            .execute(&self.pool)
            .await?;
        Ok(samples)
    }

    /// Stops the processes, drops the database and deletes the namespace's Redis keys.
    async fn cleanup(&mut self) {
        for worker in self.workers.drain(..) {
            worker.stop(Duration::from_secs(10)).await;
        }
        if let Some(api) = self.api.take() {
            api.stop(Duration::from_secs(10)).await;
        }
        self.pool.close().await;
        let admin = format!(
            "{}/postgres",
            self.options.database_server.trim_end_matches('/')
        );
        let dropped = async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&admin)
                .await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .execute(&pool)
            .await?;
            pool.close().await;
            Ok::<_, anyhow::Error>(())
        };
        if let Err(e) = dropped.await {
            eprintln!("warning: could not drop database {}: {e:#}", self.database);
        }
        if let Err(e) = clean_redis(&self.options.redis_url, &self.namespace).await {
            eprintln!(
                "warning: could not delete the Redis keys of {}: {e:#}",
                self.namespace
            );
        }
    }
}

async fn upload_bytes(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    name: String,
    bytes: Vec<u8>,
) -> anyhow::Result<String> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name)
        .mime_str("text/csv")?;
    let response = client
        .post(format!("{base}/api/v1/opportunities/upload"))
        .header("Authorization", key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    job_id(response).await
}

/// The job of `file` reported the counts its generator promised.
fn expect_job_counts(job: &Value, file: &CsvFile) -> anyhow::Result<()> {
    let counts = Counts::from_job(job);
    ensure!(
        counts == Counts::expected(file),
        "the job of {} reported {counts:?}, expected {:?}: {job}",
        file.name(),
        Counts::expected(file)
    );
    Ok(())
}

/// The job id of an upload's answer (202 or 200).
async fn job_id(response: reqwest::Response) -> anyhow::Result<String> {
    let status = response.status();
    let body: Value = response.json().await.context("upload answer")?;
    ensure!(
        status.is_success(),
        "the upload was answered {status}: {body}"
    );
    Ok(body["data"]["id"]
        .as_str()
        .with_context(|| format!("no job id in {body}"))?
        .to_owned())
}

/// Deletes every key of the namespace and its entry in apalis' list of queues.
async fn clean_redis(url: &str, namespace: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{namespace}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            deleted += keys.len();
            let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    const QUEUES: &str = "core:apalis:queues:list";
    let kind: String = redis::cmd("TYPE")
        .arg(QUEUES)
        .query_async(&mut conn)
        .await?;
    let members: Vec<String> = match kind.as_str() {
        "zset" => {
            redis::cmd("ZRANGE")
                .arg(QUEUES)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await?
        }
        "set" => {
            redis::cmd("SMEMBERS")
                .arg(QUEUES)
                .query_async(&mut conn)
                .await?
        }
        _ => Vec::new(),
    };
    let ours: Vec<&String> = members
        .iter()
        .filter(|m| m.starts_with(namespace))
        .collect();
    if !ours.is_empty() {
        let command = if kind == "zset" { "ZREM" } else { "SREM" };
        let _: i64 = redis::cmd(command)
            .arg(QUEUES)
            .arg(&ours)
            .query_async(&mut conn)
            .await?;
    }
    eprintln!(
        "cleaned up: {deleted} Redis keys of {namespace}, {} queue list entries",
        ours.len()
    );
    Ok(())
}

/// One noisy-neighbour run.
struct Noisy {
    /// B's `created_at → started_at`, seconds (`None` without B).
    b_wait: Option<f64>,
    /// A's mean `started_at → finished_at`, seconds.
    a_mean_run: f64,
    /// From A's first start to its last end, seconds.
    a_span: f64,
    /// A's rows over `a_span`.
    a_rows_per_sec: f64,
}

struct EndToEnd {
    seconds: f64,
    api_growth_kib: u64,
    worker_peak_kib: u64,
    /// The job's created, updated and unchanged rows.
    outcomes: [i64; 3],
}

/// Samples of every measurement, one per run.
#[derive(Default)]
struct Results {
    ref_new: Vec<f64>,
    ref_update: Vec<f64>,
    ref_nofk_new: Vec<f64>,
    ref_nofk_update: Vec<f64>,
    ref_contacts: Vec<f64>,
    e2e_contacts: Vec<f64>,
    ref_targets: Vec<f64>,
    e2e_targets: Vec<f64>,
    one_upload: Vec<f64>,
    all_uploads: Vec<f64>,
    pickup_ms: Vec<f64>,
    /// `/proc/loadavg` readings: at the start, after each run, at the end.
    load: Vec<String>,
    e2e_new: Vec<f64>,
    e2e_update: Vec<f64>,
    e2e_unchanged: Vec<f64>,
    e2e_realistic: Vec<f64>,
    e2e_xlsx: Vec<f64>,
    xlsx_worker_peak: Vec<f64>,
    engine_small: Vec<f64>,
    engine_small_peak: Vec<f64>,
    ref_big: Vec<f64>,
    engine_big: Vec<f64>,
    engine_big_peak: Vec<f64>,
    worker_peak: Vec<f64>,
    /// The hostile files through `import`: (what, peak KiB, how it ended).
    hostile: Vec<(String, f64, f64, String)>,
    api_growth: Vec<f64>,
    small: Vec<f64>,
    /// The noisy neighbour: B's wait and A's mean run, seconds, per order.
    fair_b_wait: Vec<f64>,
    fair_a_run: Vec<f64>,
    fifo_b_wait: Vec<f64>,
    fifo_a_run: Vec<f64>,
    /// A alone: rows/s over its backlog, per order.
    fair_alone_rate: Vec<f64>,
    fifo_alone_rate: Vec<f64>,
    /// Milliseconds per fair pick.
    pick_ms: Vec<f64>,
}

impl Results {
    fn print(&self, options: &Options, files: &Files) {
        let (upload, big) = (&files.upload, &files.big);
        let rate = |rows: u64, secs: f64| rows as f64 / secs;
        let mut lines = Vec::new();
        // Every target of the issue: what, the measured figure, the limit, met.
        let mut targets: Vec<(String, String, bool)> = Vec::new();
        for (what, reference, nofk, project) in [
            ("new rows", &self.ref_new, &self.ref_nofk_new, &self.e2e_new),
            (
                "updates",
                &self.ref_update,
                &self.ref_nofk_update,
                &self.e2e_update,
            ),
        ] {
            let project = median(project);
            for (against, reference) in [
                ("reference without FK", median(nofk)),
                ("reference with FK", median(reference)),
            ] {
                let ratio = project / reference;
                let met = ratio <= E2E_MAX_RATIO;
                lines.push(Line {
                    measurement: format!("end to end, {what}, vs {against}"),
                    file: upload.label(),
                    rows: Some(upload.rows),
                    reference: Some(reference),
                    project: Some(project),
                    rate: Some(rate(upload.rows, project)),
                    target: format!("ratio ≤ {E2E_MAX_RATIO:.2}"),
                    met: Some(met),
                    ..Line::default()
                });
                targets.push((
                    format!("end to end {what} / {against}"),
                    format!("{ratio:.2} (≤ {E2E_MAX_RATIO:.2})"),
                    met,
                ));
            }
        }
        // Unchanged rows are not rewritten: against the references' update (which rewrites
        // every row), and no slower than the project's own update path.
        let (update, unchanged) = (median(&self.e2e_update), median(&self.e2e_unchanged));
        for (against, reference) in [
            ("reference without FK", median(&self.ref_nofk_update)),
            ("reference with FK", median(&self.ref_update)),
        ] {
            let ratio = unchanged / reference;
            let met = ratio <= UNCHANGED_MAX_RATIO && unchanged <= update;
            lines.push(Line {
                measurement: format!("end to end, unchanged re-upload, vs {against}'s update"),
                file: files.changed.label(),
                rows: Some(files.changed.rows),
                reference: Some(reference),
                project: Some(unchanged),
                rate: Some(rate(files.changed.rows, unchanged)),
                figure: format!("{:.2}× the project's update", unchanged / update),
                target: format!("ratio ≤ {UNCHANGED_MAX_RATIO:.2}"),
                met: Some(met),
            });
            targets.push((
                format!("unchanged re-upload / {against}'s update"),
                format!("{ratio:.2} (≤ {UNCHANGED_MAX_RATIO:.2})"),
                met,
            ));
        }
        for (what, file, reference, project) in [
            (
                "contacts with their opportunity links",
                &files.contacts,
                &self.ref_contacts,
                &self.e2e_contacts,
            ),
            (
                "sales targets",
                &files.targets,
                &self.ref_targets,
                &self.e2e_targets,
            ),
        ] {
            let (reference, project) = (median(reference), median(project));
            let ratio = project / reference;
            let met = ratio <= E2E_MAX_RATIO;
            lines.push(Line {
                measurement: format!("end to end, {what}, new rows"),
                file: file.label(),
                rows: Some(file.rows),
                reference: Some(reference),
                project: Some(project),
                rate: Some(rate(file.rows, project)),
                target: format!("ratio ≤ {E2E_MAX_RATIO:.2}"),
                met: Some(met),
                ..Line::default()
            });
            targets.push((
                format!("{what} / its psql reference"),
                format!("{ratio:.2} (≤ {E2E_MAX_RATIO:.2})"),
                met,
            ));
        }
        if !self.all_uploads.is_empty() {
            let (one, all) = (median(&self.one_upload), median(&self.all_uploads));
            let ratio = all / one;
            let met = ratio <= CONCURRENT_MAX_RATIO;
            lines.push(Line {
                measurement: format!(
                    "{} uploads at once, {} workers × 1, vs one",
                    files.concurrent.len(),
                    options.concurrent_workers
                ),
                file: upload.label(),
                rows: Some(upload.rows * files.concurrent.len() as u64),
                reference: Some(one),
                project: Some(all),
                rate: Some(rate(upload.rows * files.concurrent.len() as u64, all)),
                target: format!("ratio ≤ {CONCURRENT_MAX_RATIO:.1}"),
                met: Some(met),
                ..Line::default()
            });
            targets.push((
                format!(
                    "{} uploads at once / one upload ({} workers)",
                    files.concurrent.len(),
                    options.concurrent_workers
                ),
                format!("{ratio:.2} (≤ {CONCURRENT_MAX_RATIO:.1})"),
                met,
            ));
        }
        let pickup = median(&self.pickup_ms);
        let met = pickup <= PICKUP_MAX_MS;
        lines.push(Line {
            measurement: format!(
                "idle worker pickup, queued → started ({} jobs)",
                self.pickup_ms.len()
            ),
            file: "3 rows each".into(),
            figure: format!("median {pickup:.1} ms"),
            target: format!("median ≤ {PICKUP_MAX_MS:.0} ms"),
            met: Some(met),
            ..Line::default()
        });
        targets.push((
            "idle pickup median".into(),
            format!("{pickup:.1} ms (≤ {PICKUP_MAX_MS:.0} ms)"),
            met,
        ));
        lines.push(Line {
            measurement: "engine alone (`import`), new rows".into(),
            file: upload.label(),
            rows: Some(upload.rows),
            reference: Some(median(&self.ref_new)),
            project: Some(median(&self.engine_small)),
            rate: Some(rate(upload.rows, median(&self.engine_small))),
            figure: format!("peak {}", mib(median(&self.engine_small_peak))),
            ..Line::default()
        });
        let (reference, project) = (median(&self.ref_big), median(&self.engine_big));
        let rate_ratio = reference / project;
        lines.push(Line {
            measurement: "engine alone (`import`), new rows".into(),
            file: big.label(),
            rows: Some(big.rows),
            reference: Some(reference),
            project: Some(project),
            rate: Some(rate(big.rows, project)),
            target: format!(
                "rows/s ≥ {ENGINE_MIN_RATE_RATIO:.1}× reference ({}): {rate_ratio:.2}×",
                group(rate(big.rows, reference).round() as u64)
            ),
            met: Some(rate_ratio >= ENGINE_MIN_RATE_RATIO),
            ..Line::default()
        });
        let realistic = &files.realistic;
        lines.push(Line {
            measurement: format!(
                "end to end, realistic values, {} bad rows",
                group(realistic.bad_rows)
            ),
            file: realistic.label(),
            rows: Some(realistic.rows),
            project: Some(median(&self.e2e_realistic)),
            rate: Some(rate(realistic.rows, median(&self.e2e_realistic))),
            ..Line::default()
        });
        // Memory ceilings are judged on the highest sample; the median is shown too.
        let max = |samples: &[f64]| samples.iter().copied().fold(0.0, f64::max);
        let xlsx = &files.xlsx;
        let (xlsx_rate, csv_rate) = (
            rate(xlsx.rows, median(&self.e2e_xlsx)),
            rate(upload.rows, median(&self.e2e_new)),
        );
        let xlsx_peak = max(&self.xlsx_worker_peak) / 1024.0;
        lines.push(Line {
            measurement: "end to end, new rows, Excel workbook".into(),
            file: xlsx.label(),
            rows: Some(xlsx.rows),
            project: Some(median(&self.e2e_xlsx)),
            rate: Some(xlsx_rate),
            figure: format!(
                "{:.2}× the CSV's rows/s; worker peak {} (max {})",
                xlsx_rate / csv_rate,
                mib(median(&self.xlsx_worker_peak)),
                mib(max(&self.xlsx_worker_peak))
            ),
            target: format!("worker ≤ {WORKER_MAX_PEAK_MIB:.0} MB"),
            met: Some(xlsx_peak <= WORKER_MAX_PEAK_MIB),
            ..Line::default()
        });
        targets.push((
            "worker peak memory on the .xlsx upload (issue 11)".into(),
            format!(
                "max {} (≤ {WORKER_MAX_PEAK_MIB:.0} MB)",
                mib(max(&self.xlsx_worker_peak))
            ),
            xlsx_peak <= WORKER_MAX_PEAK_MIB,
        ));
        let memory = |samples: &[f64], sign: &str| {
            format!(
                "{sign}{} (max {sign}{})",
                mib(median(samples)),
                mib(max(samples))
            )
        };
        lines.push(Line {
            measurement: "peak memory, `import` process".into(),
            file: big.label(),
            rows: Some(big.rows),
            figure: memory(&self.engine_big_peak, ""),
            target: format!("≤ {WORKER_MAX_PEAK_MIB:.0} MB"),
            met: Some(max(&self.engine_big_peak) / 1024.0 <= WORKER_MAX_PEAK_MIB),
            ..Line::default()
        });
        let growth = (median(&self.engine_big_peak) - median(&self.engine_small_peak)) / 1024.0;
        lines.push(Line {
            measurement: "peak memory growth with file size (`import`)".into(),
            file: format!("{} vs {}", big.name(), upload.name()),
            figure: format!("{growth:+.1} MB"),
            target: format!("flat (≤ +{FLAT_SLACK_MIB:.0} MB)"),
            met: Some(growth <= FLAT_SLACK_MIB),
            ..Line::default()
        });
        lines.push(Line {
            measurement: "peak memory, worker process (long-lived)".into(),
            file: upload.label(),
            rows: Some(upload.rows),
            figure: memory(&self.worker_peak, ""),
            target: format!("≤ {WORKER_MAX_PEAK_MIB:.0} MB"),
            met: Some(max(&self.worker_peak) / 1024.0 <= WORKER_MAX_PEAK_MIB),
            ..Line::default()
        });
        lines.push(Line {
            measurement: "API peak memory growth during the upload".into(),
            file: upload.label(),
            rows: Some(upload.rows),
            figure: memory(&self.api_growth, "+"),
            target: format!("≤ +{API_MAX_GROWTH_MIB:.0} MB"),
            met: Some(max(&self.api_growth) / 1024.0 <= API_MAX_GROWTH_MIB),
            ..Line::default()
        });
        // The worst files found, against the budget a worker gets in the manifests, beside
        // the ordinary 20 MB file's peak through the same command.
        let ordinary = format!(
            "ordinary {}: `import` {}, worker {}",
            upload.name(),
            mib(median(&self.engine_small_peak)),
            mib(median(&self.worker_peak))
        );
        let worst = self
            .hostile
            .iter()
            .map(|h| h.1.max(h.2))
            .fold(0.0, f64::max);
        for (what, import_peak, worker_peak, outcome) in &self.hostile {
            let peak = import_peak.max(*worker_peak);
            lines.push(Line {
                measurement: format!("peak memory, hostile: {what}"),
                file: outcome.clone(),
                figure: format!(
                    "`import` {}, worker {} ({ordinary})",
                    mib(*import_peak),
                    mib(*worker_peak)
                ),
                target: format!("≤ {HOSTILE_MAX_PEAK_MIB:.0} MB"),
                met: Some(peak / 1024.0 <= HOSTILE_MAX_PEAK_MIB),
                ..Line::default()
            });
        }
        if !self.hostile.is_empty() {
            targets.push((
                format!(
                    "peak memory on the {} hostile files (worst)",
                    self.hostile.len()
                ),
                format!("{} (≤ {HOSTILE_MAX_PEAK_MIB:.0} MB)", mib(worst)),
                worst / 1024.0 <= HOSTILE_MAX_PEAK_MIB,
            ));
        }
        for line in &lines {
            if line.measurement.starts_with("peak memory, worker")
                || line.measurement.starts_with("peak memory, `import`")
                || line.measurement.starts_with("API peak memory")
            {
                targets.push((
                    line.measurement.clone(),
                    format!("{} ({})", line.figure, line.target),
                    line.met == Some(true),
                ));
            }
        }
        let small = median(&self.small);
        lines.push(Line {
            measurement: format!(
                "small jobs: {} uploads, {} clients, {} workers × 2",
                files.small.len(),
                options.clients,
                options.small_workers
            ),
            file: format!("{} rows each", options.small_rows),
            rows: Some(files.small.len() as u64 * options.small_rows),
            project: Some(files.small.len() as f64 / small),
            figure: format!("{small:.1} jobs/s"),
            target: format!("≥ {SMALL_MIN_JOBS_PER_SEC:.0} jobs/s"),
            met: Some(small >= SMALL_MIN_JOBS_PER_SEC),
            ..Line::default()
        });

        println!();
        println!(
            "Medians of {} run(s) (memory ceilings: the highest sample); ratio = project s / reference s; MB = MiB.",
            options.runs
        );
        println!();
        report::print_table(&lines);
        println!();
        println!("Targets (issue 10):");
        for (what, figure, met) in &targets {
            println!("- {} {what}: {figure}", if *met { "PASS" } else { "MISS" });
        }
        println!();
        println!("Samples, median (min–max):");
        for (what, samples, digits) in [
            ("reference new rows s", &self.ref_new, 3),
            ("reference updates s", &self.ref_update, 3),
            ("reference without FK new rows s", &self.ref_nofk_new, 3),
            ("reference without FK updates s", &self.ref_nofk_update, 3),
            ("reference contacts s", &self.ref_contacts, 3),
            ("end to end contacts s", &self.e2e_contacts, 3),
            ("reference sales targets s", &self.ref_targets, 3),
            ("end to end sales targets s", &self.e2e_targets, 3),
            (
                "one upload on the concurrency workers s",
                &self.one_upload,
                3,
            ),
            ("uploads at once s", &self.all_uploads, 3),
            ("idle pickup ms", &self.pickup_ms, 1),
            ("end to end new rows s", &self.e2e_new, 3),
            ("end to end updates s", &self.e2e_update, 3),
            ("end to end unchanged re-upload s", &self.e2e_unchanged, 3),
            ("end to end realistic s", &self.e2e_realistic, 3),
            ("import (upload-sized file) s", &self.engine_small, 3),
            ("reference (engine file) s", &self.ref_big, 3),
            ("import (engine file) s", &self.engine_big, 3),
            ("small jobs jobs/s", &self.small, 1),
        ] {
            println!("- {what}: {}", spread(samples, digits));
        }
        let kib_to_mib: Vec<f64> = self.worker_peak.iter().map(|k| k / 1024.0).collect();
        println!("- worker VmHWM MB: {}", spread(&kib_to_mib, 1));
        let kib_to_mib: Vec<f64> = self.api_growth.iter().map(|k| k / 1024.0).collect();
        println!("- API VmHWM growth MB: {}", spread(&kib_to_mib, 1));
        println!();
        println!(
            "unchanged re-upload / reference update: {:.2} (target ≤ {UNCHANGED_MAX_RATIO:.2}); \
             unchanged re-upload / project update: {:.2}",
            median(&self.e2e_unchanged) / median(&self.ref_update),
            median(&self.e2e_unchanged) / median(&self.e2e_update)
        );
        println!(
            "Machine load (1-minute load average, {} CPUs): {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.load.join(", ")
        );
        println!("Targets are tracked, not asserted: a ✗ does not fail the run.");
    }

    /// The noisy neighbour's figures (issue 19), as ratios measured in the same run.
    fn print_fairness(&self, options: &Options, backlog: &[CsvFile]) {
        println!();
        if let Some(file) = backlog.first() {
            println!(
                "Noisy neighbour (issue 19): tenant A queues {} uploads of {}, then tenant B \
                 uploads 10 rows; 2 workers × 1 slot, TENANT_MAX_RUNNING=0; medians of {} run(s).",
                backlog.len(),
                file.label(),
                options.runs
            );
            let (fair_wait, fair_run) = (median(&self.fair_b_wait), median(&self.fair_a_run));
            let (fifo_wait, fifo_run) = (median(&self.fifo_b_wait), median(&self.fifo_a_run));
            // The target: B waits no longer than one of A's jobs plus a pickup.
            let bound = fair_run + PICKUP_MAX_MS / 1000.0;
            let met = fair_wait <= bound;
            println!(
                "- fifo (baseline): B waited {fifo_wait:.3} s = {:.2}× A's mean run ({fifo_run:.3} s)",
                fifo_wait / fifo_run
            );
            println!(
                "- fair: B waited {fair_wait:.3} s = {:.2}× A's mean run ({fair_run:.3} s)",
                fair_wait / fair_run
            );
            println!(
                "- {} B's wait, fair / fifo: {:.3}; fair wait ≤ one A run + {PICKUP_MAX_MS:.0} ms \
                 ({bound:.3} s)",
                if met { "PASS" } else { "MISS" },
                fair_wait / fifo_wait
            );
            let (fair_rate, fifo_rate) =
                (median(&self.fair_alone_rate), median(&self.fifo_alone_rate));
            // Judged on the runs' own ratios (each run measures both orders back to back),
            // which a busy moment of the machine moves less than the medians' ratio.
            let paired: Vec<f64> = self
                .fair_alone_rate
                .iter()
                .zip(&self.fifo_alone_rate)
                .map(|(fair, fifo)| fair / fifo)
                .collect();
            let ratio = median(&paired);
            println!(
                "- {} A alone: fair {:.0} rows/s, fifo {:.0} rows/s (medians; their ratio \
                 {:.3}); fair / fifo per run: median {} (≥ {FAIR_MIN_THROUGHPUT_RATIO:.2})",
                if ratio >= FAIR_MIN_THROUGHPUT_RATIO {
                    "PASS"
                } else {
                    "MISS"
                },
                fair_rate,
                fifo_rate,
                fair_rate / fifo_rate,
                spread(&paired, 3)
            );
            for (what, samples, digits) in [
                ("fair B wait s", &self.fair_b_wait, 3),
                ("fifo B wait s", &self.fifo_b_wait, 3),
                ("fair A mean run s", &self.fair_a_run, 3),
                ("fifo A mean run s", &self.fifo_a_run, 3),
                ("fair A alone rows/s", &self.fair_alone_rate, 0),
                ("fifo A alone rows/s", &self.fifo_alone_rate, 0),
            ] {
                println!("  - {what}: {}", spread(samples, digits));
            }
        }
        if !self.pick_ms.is_empty() {
            println!(
                "- one fair pick (`claim_next`) among {} queued jobs of {} tenants: {} ms \
                 (median (min–max) of {} picks)",
                group(options.pick_jobs),
                options.pick_tenants,
                spread(&self.pick_ms, 2),
                self.pick_ms.len()
            );
        }
    }
}
