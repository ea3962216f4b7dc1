//! The list benchmark: keyset pages of a large list against the first page, and the CSV
//! export of the whole list with the API's peak memory.
//!
//! ```sh
//! cargo bench --bench lists                      # 1,000,000 opportunities
//! BENCH_LIST_ROWS=500000 cargo bench --bench lists   # the least it takes
//! ```
//!
//! It creates a fresh database (`bi_bench_lists_<random>`), loads `BENCH_LIST_ROWS`
//! opportunities for one tenant with one `INSERT … SELECT FROM generate_series`, starts the
//! release API (`serve`), and times through HTTP, `BENCH_RUNS` times each (median):
//!
//! - page 1 as clients read it first (`limit=100`, no cursor: counted, `X-Total-Count`);
//! - page 1 by cursor (the cursor of the key before the first row: not counted), the fair
//!   base of the keyset comparison;
//! - page 1,000 by cursor (the cursor of row 99,900, built here as the API builds it; the
//!   run checks that it builds page 2's cursor exactly as the API's `Link` does);
//! - page 1,000 by offset (`offset=99900`, counted), for contrast;
//! - "my opportunities" (`owner=me`, a rep owning 1 in 50) page 1 and its page 100 by cursor;
//! - the export of the whole list (`/opportunities.csv`): time, bytes, rows, and the API
//!   process's peak resident memory (`VmHWM`, reset before) against its size before.
//!
//! The target (issue, section 3): page 1,000 by cursor within 2× page 1. Missed targets
//! do not fail the run; wrong answers do.

// The import benchmark's helpers; this one uses only the processes.
#[allow(dead_code)]
mod support;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use support::procs::{Service, reset_peak, status_kib};

/// Page 1,000 by cursor against page 1.
const DEEP_PAGE_MAX_RATIO: f64 = 2.0;
const PAGE: usize = 100;

/// The cursor the API writes for the opportunity with external id `key` (see
/// `src/api/cursor.rs`: version 1, list 1, the length-prefixed key, 4 bytes of SHA-256).
fn cursor(key: &str) -> String {
    let mut bytes = vec![1u8, 1u8];
    bytes.extend_from_slice(&(key.len() as u32).to_be_bytes());
    bytes.extend_from_slice(key.as_bytes());
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum[..4]);
    hex::encode(bytes)
}

fn external_id(row: usize) -> String {
    format!("OPP-{row:07}")
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v} is not valid")),
        Err(_) => Ok(default),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("list benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    /// `GET path` (200 asserted): the milliseconds it took and the body's external ids.
    async fn page(
        &self,
        path: &str,
    ) -> anyhow::Result<(f64, Vec<String>, reqwest::header::HeaderMap)> {
        let started = Instant::now();
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.key)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body: serde_json::Value = response.json().await?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        ensure!(status == 200, "{path}: {status} {body}");
        let ids = body["data"]
            .as_array()
            .context("data")?
            .iter()
            .map(|o| o["external_opp_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        Ok((ms, ids, headers))
    }

    /// The median milliseconds of `runs` reads of `path`, checking the first id each time.
    async fn timed(&self, path: &str, first: &str, runs: usize) -> anyhow::Result<f64> {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (ms, ids, _) = self.page(path).await?;
            ensure!(
                ids.len() == PAGE && ids[0] == first,
                "{path}: expected {PAGE} rows from {first}, got {} from {:?}",
                ids.len(),
                ids.first()
            );
            times.push(ms);
        }
        Ok(median(times))
    }
}

async fn run() -> anyhow::Result<()> {
    let rows: usize = var("BENCH_LIST_ROWS", 1_000_000)?;
    let runs: usize = var("BENCH_RUNS", 9)?;
    let server: String = var(
        "BENCH_DATABASE_SERVER",
        "postgres://postgres@127.0.0.1:5432".to_owned(),
    )?;
    let redis: String = var("BENCH_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?;
    ensure!(
        rows >= 500_000,
        "BENCH_LIST_ROWS must be at least 500000 (page 100 of a rep owning 1 in 50)"
    );
    let bin: std::path::PathBuf = var(
        "BENCH_BIN",
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_batch-import")),
    )?;
    let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let database = format!("bi_bench_lists_{id}");
    let database_url = format!("{}/{database}", server.trim_end_matches('/'));
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env: Vec<(String, String)> = [
        (
            "CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config").to_owned(),
        ),
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", redis),
        ("SMTP_URL", "smtp://127.0.0.1:9".to_owned()),
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("PUBLIC_URL", base.clone()),
        ("QUEUE_NAMESPACE", format!("bi-bench-lists-{id}")),
        ("AUTO_MIGRATE", "false".to_owned()),
        ("RATE_LIMIT_RPS", "0".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    eprintln!("database {database}, API {base}, {rows} opportunities");

    let command = |args: &[&str]| -> anyhow::Result<String> {
        let out = std::process::Command::new(&bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()?;
        ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    command(&["migrate"])?;
    let owner = "rep7@bench.example.com";
    let key = command(&[
        "keys",
        "create",
        "--tenant",
        "bench",
        "--email",
        "admin@bench.example.com",
        "--admin",
    ])?
    .lines()
    .last()
    .context("no key printed")?
    .trim()
    .to_owned();
    let rep_key = command(&["keys", "create", "--tenant", "bench", "--email", owner])?
        .lines()
        .last()
        .context("no key printed")?
        .trim()
        .to_owned();

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url)
        .await?;
    let started = Instant::now();
    // One rep in 50 owns each opportunity; stages, dates and accounts vary like a CRM's.
    sqlx::query(
        "INSERT INTO opportunities (tenant_id, external_opp_id, name, amount, close_date, stage,
                                    owner_name, owner_email, external_account_id, account)
         SELECT t.id, 'OPP-' || lpad(g::text, 7, '0'), 'Deal ' || g, (g % 100000) + 0.5,
                date '2027-01-01' + (g % 365)::int, (ARRAY['Open', 'Won', 'Lost'])[g % 3 + 1],
                'Rep ' || (g % 50), 'rep' || (g % 50) || '@bench.example.com',
                'ACC-' || (g % 1000), 'Account ' || (g % 1000)
           FROM tenants t, generate_series(0, $1 - 1) g
          WHERE t.slug = 'bench'",
    )
    .bind(rows as i64)
    .execute(&pool)
    .await?;
    sqlx::query("VACUUM ANALYZE opportunities")
        .execute(&pool)
        .await?;
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());

    let mut api_process = Service::spawn(
        "the API",
        &bin,
        &["serve", "--no-migrate"],
        &env,
        dir.path().join("api.log"),
    )?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        api_process.check_alive()?;
        let ready = client
            .get(format!("{base}/api/v1/readyz"))
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
    let api = Api {
        base: base.clone(),
        key: key.clone(),
        client: client.clone(),
    };

    // The cursor built here is the API's: page 1's next link carries it for row 99.
    let (_, first, headers) = api
        .page(&format!("/api/v1/opportunities?limit={PAGE}"))
        .await?;
    ensure!(first[0] == external_id(0), "first row {:?}", first.first());
    let total = headers
        .get("x-total-count")
        .context("page 1 is counted")?
        .to_str()?
        .to_owned();
    ensure!(total == rows.to_string(), "X-Total-Count {total}");
    let link = headers
        .get("link")
        .context("page 1 has a next link")?
        .to_str()?
        .to_owned();
    ensure!(
        link.contains(&format!("cursor={}>", cursor(&external_id(PAGE - 1)))),
        "the API's cursor differs from the one built here: {link}"
    );
    // Warm up: the table and index pages the runs read, as a served list would have them.
    for _ in 0..3 {
        api.page(&format!("/api/v1/opportunities?limit={PAGE}"))
            .await?;
    }

    let deep = 999 * PAGE; // the first row of page 1,000
    let page1_counted = api
        .timed(
            &format!("/api/v1/opportunities?limit={PAGE}"),
            &external_id(0),
            runs,
        )
        .await?;
    let before_first = cursor("OPP-");
    let page1_cursor = api
        .timed(
            &format!("/api/v1/opportunities?limit={PAGE}&cursor={before_first}"),
            &external_id(0),
            runs,
        )
        .await?;
    let deep_cursor = api
        .timed(
            &format!(
                "/api/v1/opportunities?limit={PAGE}&cursor={}",
                cursor(&external_id(deep - 1))
            ),
            &external_id(deep),
            runs,
        )
        .await?;
    let deep_offset = api
        .timed(
            &format!("/api/v1/opportunities?limit={PAGE}&offset={deep}"),
            &external_id(deep),
            runs,
        )
        .await?;
    // Rep 7 owns rows 7, 57, 107, …: page 100 of theirs starts at row 7 + 50 × 9,900.
    let rep = Api {
        base: base.clone(),
        key: rep_key,
        client: client.clone(),
    };
    let mine1 = rep
        .timed(
            &format!("/api/v1/opportunities?owner=me&limit={PAGE}"),
            &external_id(7),
            runs,
        )
        .await?;
    let mine100 = rep
        .timed(
            &format!(
                "/api/v1/opportunities?owner=me&limit={PAGE}&cursor={}",
                cursor(&external_id(7 + 50 * (99 * PAGE - 1)))
            ),
            &external_id(7 + 50 * 99 * PAGE),
            runs,
        )
        .await?;

    // The export of every row, with the API's peak memory.
    let pid = api_process.pid();
    let rss_before = status_kib(pid, "VmRSS").unwrap_or(0);
    reset_peak(pid)?;
    let started = Instant::now();
    let response = client
        .get(format!("{base}/api/v1/opportunities.csv"))
        .header("Authorization", &key)
        .send()
        .await?;
    ensure!(response.status() == 200, "export: {}", response.status());
    let mut stream = response.bytes_stream();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
    }
    let export_secs = started.elapsed().as_secs_f64();
    let peak = status_kib(pid, "VmHWM").unwrap_or(0);
    if lines != rows + 1 {
        bail!(
            "the export has {lines} lines, not {} (header + rows)",
            rows + 1
        );
    }

    let ratio = deep_cursor / page1_cursor;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "\n## List benchmark: {rows} opportunities, limit {PAGE}, median of {runs} runs (HTTP, API binary {})\n",
        bin.display()
    );
    println!("| what | ms |");
    println!("|---|---:|");
    println!("| page 1, counted (`X-Total-Count`, no cursor) | {page1_counted:.2} |");
    println!("| page 1 by cursor (not counted) | {page1_cursor:.2} |");
    println!("| page 1,000 by cursor | {deep_cursor:.2} |");
    println!("| page 1,000 by offset (counted) | {deep_offset:.2} |");
    println!("| owner=me page 1 (counted; 1 in 50 rows) | {mine1:.2} |");
    println!("| owner=me page 100 by cursor | {mine100:.2} |");
    println!();
    println!(
        "page 1,000 by cursor / page 1 by cursor: {ratio:.2}× (target ≤ {DEEP_PAGE_MAX_RATIO}×: {}); against the counted page 1: {:.2}×; offset page 1,000 / cursor page 1,000: {:.1}×",
        verdict(ratio <= DEEP_PAGE_MAX_RATIO),
        deep_cursor / page1_counted,
        deep_offset / deep_cursor,
    );
    println!(
        "export of {rows} rows: {export_secs:.1} s ({:.0} rows/s), {:.1} MiB; API resident before {:.1} MiB, peak during {:.1} MiB",
        rows as f64 / export_secs,
        bytes as f64 / 1048576.0,
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
    );

    drop(api_process);
    pool.close().await;
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{}/postgres", server.trim_end_matches('/')))
        .await?;
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    ))
    .execute(&admin)
    .await?;
    Ok(())
}
