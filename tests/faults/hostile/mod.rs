//! The hostile-input suite: files made to cost far more than their size, uploaded to the
//! real binaries (`serve` and two `work` processes) while another tenant imports. Each
//! scenario asserts the answer, every hostile job's end and its message, that no process
//! died, that each stayed under its memory budget, and that the other tenant's import
//! completed exactly. Run only this suite with `cargo nextest run --test faults hostile`.

use std::time::{Duration, Instant};

use batch_import_test_support::{csv_bombs as bombs, workbook_bombs};
use uuid::Uuid;

use crate::{
    checks::{Expected, counts_exact},
    csv_files::opportunities,
    process::peak_rss,
    scenario::{Options, Scenario},
};

/// What every process must stay under (the Kubernetes manifests give a worker 256 Mi).
const MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

/// Every job ends within this.
const BOUND: Duration = Duration::from_secs(240);

/// What an upload must give.
enum Expect {
    /// The job ends `failed` and its message says this.
    Fails(&'static str),
    /// The job completes with these counts: (original, imported, failed), and the first
    /// failed row's message says this (when there is one).
    Completes(i64, i64, i64, Option<&'static str>),
}

/// One hostile upload.
struct Bomb {
    name: &'static str,
    query: &'static str,
    file_name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

impl Bomb {
    fn new(name: &'static str, file_name: &'static str, bytes: Vec<u8>, expect: Expect) -> Self {
        Self {
            name,
            query: "",
            file_name,
            bytes,
            expect,
        }
    }
}

/// Uploads the bombs as one tenant and a good file as another, then checks everything.
async fn survive(bombs: Vec<Bomb>) {
    let mut s = Scenario::start(Options {
        workers: 2,
        // The engine's own chunk size, so that memory is what production sees.
        extra_env: &[("IMPORT_CHUNK_ROWS", "4000")],
        ..Options::default()
    })
    .await;
    let mut jobs = Vec::new();
    for bomb in &bombs {
        let job = upload(&s, &s.key, bomb).await;
        jobs.push(job);
    }
    // Queued behind the bombs: it completes only if the workers live through them.
    let other = OtherTenant::imports(&mut s, "HOSTILE-B").await;

    wait_terminal(&mut s, BOUND).await;
    for (bomb, job) in bombs.iter().zip(&jobs) {
        check_job(&s, bomb, *job).await;
    }
    other.completed_exactly(&s).await;
    every_process_alive_and_in_budget(&mut s);
}

/// Another tenant's ordinary import, uploaded while the hostile input is at work.
struct OtherTenant {
    job: Uuid,
    file: crate::csv_files::OppFile,
}

impl OtherTenant {
    /// Makes the tenant and uploads 3,000 rows (30 of them bad) prefixed `prefix`.
    async fn imports(s: &mut Scenario, prefix: &str) -> Self {
        let key = s.stack.admin_key();
        let file = opportunities(prefix, 3_000, Some(100), None);
        let good = Bomb::new(
            "another tenant's file",
            "good.csv",
            file.csv.clone().into_bytes(),
            Expect::Fails(""),
        );
        let job = upload(s, &key, &good).await;
        Self { job, file }
    }

    /// Its job completed with exactly its file's counts.
    async fn completed_exactly(&self, s: &Scenario) {
        let expected = Expected {
            job: self.job,
            rows: self.file.rows,
            errors: self.file.errors,
        };
        counts_exact(&s.stack, &[expected]).await;
    }
}

/// Uploads `bomb` with `key`, asserting 202; returns the job.
async fn upload(s: &Scenario, key: &str, bomb: &Bomb) -> Uuid {
    let part = reqwest::multipart::Part::bytes(bomb.bytes.clone()).file_name(bomb.file_name);
    let response = s
        .stack
        .http
        .post(format!(
            "{}/api/v1/opportunities/upload?{}",
            s.stack.address, bomb.query
        ))
        .header("Authorization", key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: upload failed: {e}\n{}", bomb.name, s.stack.logs()));
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 202, "{}: {body}\n{}", bomb.name, s.stack.logs());
    body["data"]["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until no job is queued or running, without replacing a process that died.
async fn wait_terminal(s: &mut Scenario, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM import_jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
        if open == 0 {
            return;
        }
        let (_, exited) = s.stack.processes();
        assert!(exited.is_empty(), "{exited:?} died\n{}", s.stack.logs());
        assert!(
            Instant::now() < deadline,
            "{open} jobs not ended after {bound:?}\n{}",
            s.stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The job of `bomb` ended as expected.
async fn check_job(s: &Scenario, bomb: &Bomb, job: Uuid) {
    let (status, body) = s.stack.get(&s.key, &format!("/api/v1/jobs/{job}")).await;
    assert_eq!(status, 200, "{}: {body}", bomb.name);
    let job = &body["data"];
    match bomb.expect {
        Expect::Fails(says) => {
            assert_eq!(job["state"], "failed", "{}: {job}", bomb.name);
            let error = job["error"].as_str().unwrap_or_default();
            assert!(
                error.contains(says),
                "{}: {error:?} should say {says:?}",
                bomb.name
            );
        }
        Expect::Completes(original, imported, failed, says) => {
            assert_eq!(
                (
                    job["state"].as_str(),
                    job["total_original_rows"].as_i64(),
                    job["total_imported_rows"].as_i64(),
                    job["total_error_rows"].as_i64()
                ),
                (
                    Some("completed"),
                    Some(original),
                    Some(imported),
                    Some(failed)
                ),
                "{}: {job}",
                bomb.name
            );
            if let Some(says) = says {
                let id = job["id"].as_str().unwrap();
                let (_, errors) = s
                    .stack
                    .get(&s.key, &format!("/api/v1/jobs/{id}/errors?per_page=1"))
                    .await;
                let message = errors["data"][0]["problems"][0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(message.contains(says), "{}: {errors}", bomb.name);
            }
        }
    }
}

/// No process exited, and none ever held more than [`MEMORY_BUDGET`] resident.
fn every_process_alive_and_in_budget(s: &mut Scenario) {
    let (live, exited) = s.stack.processes();
    assert!(exited.is_empty(), "{exited:?} died\n{}", s.stack.logs());
    for (name, pid) in live {
        let peak = peak_rss(pid).expect("the process is alive");
        eprintln!("{name}: peak {:.1} MB", peak as f64 / 1_048_576.0);
        assert!(
            peak < MEMORY_BUDGET,
            "{name} peaked at {} MB, over the {} MB budget",
            peak / 1_048_576,
            MEMORY_BUDGET / 1_048_576
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_made_to_cost_more_than_their_size_are_bounded() {
    let (widest, widest_rows) = bombs::csv_widest_rows();
    let (ragged, ragged_rows) = bombs::csv_ragged_rows();
    let deep_rows = 1_000_000;
    survive(vec![
        Bomb::new(
            "two million columns",
            "wide.csv",
            bombs::csv_wide_header(2_000_000),
            Expect::Fails("the header line has 2000000 columns; a file may have at most 16384"),
        ),
        Bomb::new(
            "16,384 columns in every row",
            "widest.csv",
            widest,
            Expect::Completes(widest_rows as i64, widest_rows as i64, 0, None),
        ),
        Bomb::new(
            "one 18 MB field",
            "field.csv",
            bombs::csv_huge_field(18_000_000),
            Expect::Completes(
                3,
                2,
                1,
                Some("holds 18000000 bytes; a field may hold at most"),
            ),
        ),
        Bomb::new(
            "a quote never closed",
            "quote.csv",
            bombs::csv_unclosed_quote(400_000),
            Expect::Completes(2, 1, 1, Some("a field may hold at most 131072")),
        ),
        Bomb::new(
            "600,000 fields a row",
            "ragged.csv",
            ragged,
            Expect::Completes(
                ragged_rows as i64,
                0,
                ragged_rows as i64,
                Some("a row may hold at most 1048576"),
            ),
        ),
        Bomb::new(
            "a million one-letter rows",
            "deep.csv",
            bombs::csv_deep(deep_rows),
            Expect::Completes(deep_rows as i64, 0, deep_rows as i64, None),
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workbooks_made_to_cost_more_than_their_size_fail_their_jobs_and_nothing_else() {
    use workbook_bombs as wb;
    let sample_xls = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/workbooks/sample.xls"
    ))
    .unwrap();
    let claim = wb::shared_strings_bomb();
    assert!(claim.len() < 8 * 1024, "the issue's bomb is small");
    let refused = "the workbook is refused";
    let bomb = |name, file_name, bytes| Bomb::new(name, file_name, bytes, Expect::Fails(refused));
    survive(vec![
        Bomb::new(
            "shared strings claiming a trillion",
            "claim.xlsx",
            claim.clone(),
            Expect::Fails("declares 1000000000000 strings"),
        ),
        // The sheet check at upload reads the sheet list only; the API must survive it.
        Bomb {
            query: "sheet=Sheet1",
            ..Bomb::new(
                "the same, with a sheet named",
                "claim.xlsx",
                claim,
                Expect::Fails("declares 1000000000000 strings"),
            )
        },
        bomb(
            "a sheet inflating to 300 MB",
            "inflated.xlsx",
            wb::inflated_sheet_xlsx(300),
        ),
        bomb(
            "a 16 MB sheet packed 1000:1",
            "zip.xlsx",
            wb::zip_bomb_xlsx(),
        ),
        bomb(
            "a zip header that lies",
            "lying.xlsx",
            wb::lying_header_xlsx(),
        ),
        bomb(
            "a part declaring 3.3 GB",
            "oversized.xlsx",
            wb::oversized_part_xlsx(),
        ),
        bomb(
            "a dimension past Excel's",
            "far.xlsx",
            wb::huge_dimension_xlsx(),
        ),
        bomb(
            "100,000 zip entries",
            "entries.xlsx",
            wb::many_entries_xlsx(100_000),
        ),
        bomb(
            "one .ods cell repeated 90 million times",
            "repeat.ods",
            wb::ods_repeat_bomb(),
        ),
        bomb(
            "ten billion spaces in an .ods cell",
            "spaces.ods",
            wb::ods_spaces_bomb(),
        ),
        Bomb {
            query: "sheet=Sales",
            ..bomb(
                "an .xls cell at row and column 65,536",
                "corners.xls",
                wb::xls_corners_bomb(&sample_xls),
            )
        },
    ])
    .await;
}

/// Connections that trickle their request head, a stalled body, and a flood of random keys
/// from one client address, against the real `serve` behind a trusted proxy: the slow
/// connections are closed, the flood is answered 429 after its burst, and another client's
/// tenant uploads and imports as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_a_key_flood_do_not_stop_another_tenants_import() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut s = Scenario::start(Options {
        workers: 1,
        extra_env: &[
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "2"),
            ("HTTP_BODY_IDLE_TIMEOUT_SECS", "2"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("AUTH_FAILURE_BURST", "20"),
        ],
        ..Options::default()
    })
    .await;
    let host = s.stack.address.trim_start_matches("http://").to_owned();

    // 200 sockets sending one byte of a request head every half second, and 20 that send
    // a head announcing a body and then stop.
    let mut slow = Vec::new();
    for n in 0..220 {
        let host = host.clone();
        slow.push(tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
            let started = Instant::now();
            if n >= 200 {
                let head = format!(
                    "POST /api/v1/opportunities/upload HTTP/1.1\r\nHost: {host}\r\n\
                     Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x"
                );
                socket.write_all(head.as_bytes()).await.unwrap();
                let mut buf = Vec::new();
                // The server answers (400) and closes, or just closes.
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    socket.read_to_end(&mut buf),
                )
                .await
                .expect("a stalled body is cut off");
                return started.elapsed();
            }
            let head = b"GET /api/v1/jobs HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
            for byte in head.iter().cycle() {
                if socket.write_all(&[*byte]).await.is_err() {
                    return started.elapsed();
                }
                let mut probe = [0u8; 64];
                let read =
                    tokio::time::timeout(Duration::from_millis(500), socket.read(&mut probe)).await;
                // Closed by the server: end of stream or a reset.
                if let Ok(Ok(0) | Err(_)) = read {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "a slow request head was never cut off"
                );
            }
            unreachable!()
        }));
    }

    // A flood of random keys from another client, as the proxy reports it.
    let flood = {
        let http = s.stack.http.clone();
        let url = format!("{}/api/v1/jobs", s.stack.address);
        tokio::spawn(async move {
            let (mut unauthorized, mut limited) = (0, 0);
            let started = Instant::now();
            for _ in 0..1_500 {
                let response = http
                    .get(&url)
                    .header("Authorization", format!("bik_{}", Uuid::new_v4().simple()))
                    .header("X-Forwarded-For", "203.0.113.9")
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    401 => unauthorized += 1,
                    429 => {
                        assert!(response.headers().contains_key("retry-after"));
                        let body: serde_json::Value = response.json().await.unwrap();
                        assert_eq!(body["status"], "fail", "{body}");
                        limited += 1;
                    }
                    other => panic!("the flood got {other}"),
                }
            }
            (unauthorized, limited, started.elapsed())
        })
    };

    // Meanwhile another client's tenant imports.
    let other = OtherTenant::imports(&mut s, "EDGE-B").await;

    let (unauthorized, limited, took) = flood.await.unwrap();
    // The burst of 20, then one forgiven failure a second (and one in flight).
    let allowed = 20 + took.as_secs() + 2;
    assert!(
        unauthorized <= allowed && unauthorized + limited == 1_500,
        "401: {unauthorized} (at most {allowed} in {took:?}), 429: {limited}"
    );
    for task in slow {
        let lasted = task.await.unwrap();
        assert!(lasted < Duration::from_secs(20), "{lasted:?}");
    }
    wait_terminal(&mut s, BOUND).await;
    other.completed_exactly(&s).await;
    every_process_alive_and_in_budget(&mut s);
}
