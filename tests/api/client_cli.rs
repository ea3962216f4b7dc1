//! The command-line client (`upload`, `jobs`, `job`) as a user runs it: the real binary
//! against a spawned API and worker. Its stdout is a pipe, so it prints plain lines.

use std::{
    path::Path,
    process::Output,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::{
    Counts, TestApp, assert_counts, error_messages, opportunities_csv, process_env, spawn_app,
    spawn_app_with,
};

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of `name=value` in the client's plain output.
fn field(out: &Output, name: &str) -> String {
    let text = stdout(out);
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {text}\nstderr: {}", stderr(out)))
        .to_owned()
}

fn write(app: &TestApp, name: &str, csv: &str) -> String {
    let path = app.storage.path().join(name);
    std::fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_follows_the_job_prints_the_counts_and_jobs_and_job_show_it() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = write(
        &app,
        "good.csv",
        "Opportunity ID,Opportunity Name,Amount\nG1,One,10\nG2,Two,20\nG3,Three,\nG4,Four,4\n",
    );

    let out = app
        .client(&key, &["upload", "--kind", "opportunities", &file])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(field(&out, "state"), "completed");
    assert_eq!(field(&out, "total_original_rows"), "4");
    assert_eq!(field(&out, "total_imported_rows"), "4");
    assert_eq!(field(&out, "total_error_rows"), "0");
    assert_eq!(field(&out, "error_file"), "");
    assert!(!Path::new(&format!("{file}.errors.csv")).exists());
    assert_eq!(app.stored_opportunities().await, 4);
    let id = field(&out, "job");

    // `jobs --state completed` lists it in an aligned table; another state does not.
    let out = app.client(&key, &["jobs", "--state", "completed"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and the job: {table}");
    assert!(lines[0].starts_with("ID "), "{table}");
    assert!(lines[1].starts_with(&id), "{table}");
    assert_eq!(
        lines[0].find("STATE"),
        lines[1].find("completed"),
        "{table}"
    );
    assert!(lines[1].ends_with("good.csv"), "{table}");
    let out = app.client(&key, &["jobs", "--state", "failed"]).await;
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));

    // `jobs --json` is the API's list; `job ID` shows the one job, as text and as JSON.
    let out = app
        .client(
            &key,
            &[
                "jobs",
                "--kind",
                "opportunities",
                "--state",
                "completed",
                "--json",
            ],
        )
        .await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let out = app.client(&key, &["job", &id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l == format!("id                   {id}")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "total_imported_rows  4"),
        "{text}"
    );
    let out = app.client(&key, &["job", &id, "--json"]).await;
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["state"], "completed");
    assert_counts(&job, Counts::new().imported(4));

    // A job of another tenant is the API's 404.
    let other = app.admin_key().await;
    let out = app.client(&other, &["job", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("no job {id}")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_exit_2_and_are_saved_next_to_the_file() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = write(
        &app,
        "some-bad.csv",
        "Opportunity ID,Opportunity Name,Amount\nB1,One,10\nB2,Two,ten\nB3,Three,3\n,No id,4\nB5,Five,5\n",
    );

    let out = app
        .client(&key, &["upload", "--kind", "opportunities", &file])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(field(&out, "total_original_rows"), "5");
    assert_eq!(field(&out, "total_imported_rows"), "3");
    assert_eq!(field(&out, "total_error_rows"), "2");
    assert!(field(&out, "error_file").ends_with("/errors.csv"));
    let saved = format!("{file}.errors.csv");
    assert_eq!(field(&out, "error_csv"), saved);

    let bytes = std::fs::read(&saved).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let csv = text
        .strip_prefix('\u{feff}')
        .expect("the API's BOM is kept");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[3].to_owned())
        })
        .collect();
    assert_eq!(
        rows,
        [("B2".into(), "3".into()), (String::new(), "5".into())],
        "the failed rows with their lines: {csv}"
    );
    assert_eq!(error_messages(csv).len(), 2);
    assert!(
        stderr(&out).contains("imported 3 of 5 rows, 2 failed"),
        "{}",
        stderr(&out)
    );

    // --json prints the finished job as the API describes it.
    let again = write(
        &app,
        "again.csv",
        "Opportunity ID,Opportunity Name,Amount\nJ1,One,x\n",
    );
    let out = app
        .client(
            &key,
            &["upload", "--kind", "opportunities", "--json", &again],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let job: Value = serde_json::from_slice(&out.stdout).expect("stdout is the job's JSON");
    assert_eq!(job["state"], "completed");
    assert_counts(&job, Counts::new().errors(1));
    assert_eq!(job["file_name"], "again.csv");
    assert!(Path::new(&format!("{again}.errors.csv")).exists());
}

/// A refusal the API sends before it reads the file (here: a member's key) may close the
/// connection under a large upload still being written; the CLI shows the API's reason, not
/// a broken connection (the cut-off itself is forced in `client::http`'s unit test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_before_the_file_is_read_shows_the_reason_even_for_a_large_file() {
    let app = spawn_app().await;
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    while csv.len() < 12_000_000 {
        csv.push_str(&format!(
            "K{},A name long enough to fill the file quickly\n",
            csv.len()
        ));
    }
    let file = write(&app, "large.csv", &csv);
    let rep = app.key("acme", "rep@acme.example.com", false).await;
    for _ in 0..3 {
        let out = app
            .client(&rep, &["upload", "--kind", "opportunities", &file])
            .await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("administrator"), "{}", stderr(&out));
        assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_a_wrong_key_and_a_bad_mapping_exit_1_with_the_reason() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // No required column: the engine fails the job.
    let file = write(&app, "no-columns.csv", "Name Of Thing,Amount\nx,1\n");
    let out = app
        .client(&key, &["upload", "--kind", "opportunities", &file])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(field(&out, "state"), "failed");
    assert!(
        field(&out, "error").contains("Opportunity ID"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("the job failed"), "{}", stderr(&out));
    assert!(!Path::new(&format!("{file}.errors.csv")).exists());

    let good = write(
        &app,
        "good.csv",
        "Opportunity ID,Opportunity Name\nK1,One\n",
    );
    let out = app
        .client("not-a-key", &["upload", "--kind", "opportunities", &good])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("invalid API key"), "{}", stderr(&out));

    let rep = app.key("other", "rep@other.example.com", false).await;
    let out = app
        .client(&rep, &["upload", "--kind", "contacts", &good])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("administrator"), "{}", stderr(&out));

    // A mapping to a field the kind does not have: the API's 400 message.
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--mapping",
                r#"{"Opportunity ID":"Shoe Size"}"#,
                &good,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Shoe Size"), "{}", stderr(&out));
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--mapping",
                "[1]",
                &good,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--mapping"), "{}", stderr(&out));

    // Usage errors are errors too: 1, not clap's 2 (which means "some rows failed").
    let out = app
        .client(&key, &["upload", "--kind", "leads", &good])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("leads"), "{}", stderr(&out));

    let out = app
        .client(&key, &["upload", "--kind", "opportunities", "missing.csv"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.csv"), "{}", stderr(&out));
    assert_eq!(app.stored_opportunities().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_prints_the_job_and_a_mapping_renames_the_columns() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = write(&app, "deals.csv", "Deal Ref,Deal\nM1,First\nM2,Second\n");
    let mapping = r#"{"Deal Ref":"Opportunity ID","Deal":"Opportunity Name"}"#;

    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--mapping",
                mapping,
                "--no-wait",
                &file,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = field(&out, "job");
    assert_eq!(
        field(&out, "url"),
        format!("{}/api/v1/jobs/{id}", app.address)
    );
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    // The mapping was applied.
    assert_counts(&job, Counts::new().imported(2));

    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--mapping",
                mapping,
                "--no-wait",
                "--json",
                &file,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let accepted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(accepted["id"].is_string(), "{accepted}");
    assert_eq!(accepted["file_name"], "deals.csv");

    // Followed to the end with the mapping: every row imported.
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--mapping",
                mapping,
                &file,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(field(&out, "total_imported_rows"), "2");
}

/// With no worker the jobs stay queued: `upload --no-wait`, `job` and `jobs` print how many
/// queued jobs (of any tenant) go before each, and `-` for a job that is not queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_shows_the_jobs_ahead_of_it() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let other = app.admin_key().await;
    let file = write(&app, "q.csv", "Opportunity ID,Opportunity Name\nQ1,One\n");
    // Uploaded K1, O1, K2: turn 1 is K1 then O1, turn 2 is K2.
    let mut ids = Vec::new();
    for (key, ahead) in [(&key, "0"), (&other, "1"), (&key, "2")] {
        let out = app
            .client(
                key,
                &["upload", "--kind", "opportunities", "--no-wait", &file],
            )
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(field(&out, "state"), "queued");
        assert_eq!(field(&out, "jobs_ahead"), ahead, "{}", stdout(&out));
        ids.push(field(&out, "job"));
    }
    let (k1, k2) = (&ids[0], &ids[2]);
    let detail = |out: &Output, name: &str| -> String {
        let text = stdout(out);
        text.lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(name)).then(|| words.collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };

    let out = app.client(&key, &["job", k2]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(detail(&out, "jobs_ahead"), "2");

    // The table: newest first, the count under AHEAD; the other tenant's job is not there.
    let out = app.client(&key, &["jobs"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two jobs: {table}");
    let column = lines[0].find("AHEAD").expect("an AHEAD column");
    assert!(lines[1].starts_with(k2.as_str()), "{table}");
    assert_eq!(&lines[1][column..column + 2], "2 ", "{table}");
    assert!(lines[2].starts_with(k1.as_str()), "{table}");
    assert_eq!(&lines[2][column..column + 2], "0 ", "{table}");

    // K1 cancelled: no count (`-`); K2 moves up to turn 1, behind O1 only.
    let cancelled = app.post(&key, &format!("/api/v1/jobs/{k1}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    let out = app.client(&key, &["job", k1]).await;
    assert_eq!(detail(&out, "state"), "cancelled");
    assert_eq!(detail(&out, "jobs_ahead"), "-");
    let out = app.client(&key, &["job", k2]).await;
    assert_eq!(detail(&out, "jobs_ahead"), "1");
    let out = app.client(&key, &["jobs"]).await;
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    // The STATE column is wider now ("cancelled").
    let column = lines[0].find("AHEAD").unwrap();
    assert_eq!(&lines[1][column..column + 2], "1 ", "{table}");
    assert_eq!(&lines[2][column..column + 2], "- ", "{table}");
}

/// A `serve` process of the test's installation on `port`; killed when dropped.
fn serve(app: &TestApp, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .arg("serve")
        .envs(process_env(&app.settings))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts")
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/healthz")).await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve on port {port} never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_keeps_following_the_job_when_the_api_dies_and_comes_back() {
    // The test's worker imports; a separate API process serves the client, so that it can
    // be killed (no graceful end of the event stream) and started again on the same port.
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut api = serve(&app, port);
    wait_ready(port).await;
    let rows = 3000; // 1000 chunks of 3 rows: long enough to catch mid-run.
    let file = write(&app, "long.csv", &opportunities_csv("L", rows));
    let follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .args(["upload", "--kind", "opportunities", &file])
        .env("BATCH_IMPORT_URL", format!("http://127.0.0.1:{port}"))
        .env("BATCH_IMPORT_KEY", &key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let id = loop {
        let body: Value = app.get(&key, "/api/v1/jobs").await.json().await.unwrap();
        if let Some(id) = body["data"][0]["id"].as_str() {
            break id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    app.wait_until_midway(&key, &id).await;
    api.kill().await.unwrap();
    let _again = serve(&app, port);

    let out = follower.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(field(&out, "job"), id);
    assert_eq!(field(&out, "total_imported_rows"), rows.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_name_names_the_job_and_jobs_name_finds_it() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = write(&app, "named.csv", &opportunities_csv("NM", 3));
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--name",
                "Q3 pipeline",
                &file,
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = field(&out, "job");
    let other = write(&app, "other.csv", &opportunities_csv("OT", 1));
    let out = app
        .client(&key, &["upload", "--kind", "opportunities", &other])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The table has a NAME column; `--name` keeps only the job of that name.
    let out = app.client(&key, &["jobs", "--name", "Q3 pipeline"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and the named job: {table}");
    assert!(lines[1].starts_with(&id), "{table}");
    assert_eq!(
        lines[0].find("NAME"),
        lines[1].find("Q3 pipeline"),
        "{table}"
    );
    let out = app.client(&key, &["jobs"]).await;
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));

    let out = app.client(&key, &["job", &id]).await;
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l == "name                 Q3 pipeline"),
        "{}",
        stdout(&out)
    );
    let out = app.client(&key, &["job", &id, "--json"]).await;
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["name"], "Q3 pipeline");

    // The API's refusal of a name too long is the client's error.
    let long = "x".repeat(201);
    let out = app
        .client(
            &key,
            &["upload", "--kind", "opportunities", "--name", &long, &file],
        )
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("name must be at most 200 characters"),
        "{}",
        stderr(&out)
    );
}
