//! `batch-import revert` as a user runs it: the real binary against a spawned API and
//! worker, the data checked through the API. Its stdout is a pipe, so it prints plain lines.

use std::process::Output;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

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

/// Writes `csv` into the test's storage folder and imports it with `batch-import upload`,
/// asserting every row imported; the job's id.
async fn upload(app: &TestApp, key: &str, name: &str, csv: &str) -> String {
    let path = app.storage.path().join(name);
    std::fs::write(&path, csv).unwrap();
    let out = app
        .client(
            key,
            &["upload", "--kind", "opportunities", path.to_str().unwrap()],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    field(&out, "job")
}

/// The tenant's opportunities as the API lists them, in external id order.
async fn opportunities(app: &TestApp, key: &str) -> Vec<Value> {
    let mut items = app.list(key, "opportunities").await;
    items.sort_by(|a, b| {
        a["external_opp_id"]
            .as_str()
            .cmp(&b["external_opp_id"].as_str())
    });
    items
}

/// The revert's counts from the plain output: deleted, restored, conflicts.
fn counts(out: &Output) -> [String; 3] {
    ["deleted_rows", "restored_rows", "conflict_rows"].map(|name| field(out, name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_checks_then_undoes_an_import_and_a_second_revert_is_refused() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    upload(
        &app,
        &key,
        "a.csv",
        "Opportunity ID,Opportunity Name,Amount,Stage\nR1,One,10,\nR2,Two,20,Open\n",
    )
    .await;
    let before = opportunities(&app, &key).await;
    // B updates R1 (a new amount, a stage where there was none), leaves R2 as it is,
    // creates R3.
    let b = upload(
        &app,
        &key,
        "b.csv",
        "Opportunity ID,Opportunity Name,Amount,Stage\nR1,One,15,Won\nR2,Two,20,Open\nR3,Three,30,\n",
    )
    .await;
    let after_b = opportunities(&app, &key).await;
    assert_ne!(after_b, before);

    // The check: the counts, and nothing changed.
    let out = app.client(&key, &["revert", &b, "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(field(&out, "state"), "completed");
    assert_eq!(field(&out, "dry_run"), "true");
    assert_eq!(field(&out, "reverts_job_id"), b);
    assert_eq!(counts(&out), ["1", "1", "0"]);
    assert!(
        stderr(&out).contains(&format!(
            "checked the revert of job {b}, nothing changed: 1 rows would be deleted, \
             1 restored, 0 changed since would be left alone"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(opportunities(&app, &key).await, after_b);

    // The revert: R3 deleted, R1 back to A's values exactly (no stage), R2 untouched.
    let out = app.client(&key, &["revert", &b]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(field(&out, "state"), "completed");
    assert_eq!(field(&out, "dry_run"), "false");
    assert_eq!(field(&out, "reverts_job_id"), b);
    assert_eq!(counts(&out), ["1", "1", "0"]);
    assert_eq!(field(&out, "total_error_rows"), "0");
    assert!(
        stderr(&out).contains(&format!(
            "reverted job {b}: 1 rows deleted, 1 restored, 0 changed since left alone"
        )),
        "{}",
        stderr(&out)
    );
    let revert = field(&out, "job");
    assert_eq!(opportunities(&app, &key).await, before);
    let reverted: Value = app
        .get(&key, &format!("/api/v1/jobs/{b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reverted["data"]["reverted_by_job_id"], revert.as_str());

    // `job` shows the link both ways; `--json` is the API's revert job.
    let out = app.client(&key, &["job", &b]).await;
    assert!(
        stdout(&out).lines().any(|l| l
            .split_whitespace()
            .eq(["reverted_by_job_id", revert.as_str()])),
        "{}",
        stdout(&out)
    );
    let out = app.client(&key, &["job", &revert, "--json"]).await;
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["reverts_job_id"], b.as_str());
    assert_eq!(job["deleted_rows"], 1);
    assert_eq!(job["restored_rows"], 1);

    // Reverting again is refused with the API's reason; nothing changes.
    let out = app.client(&key, &["revert", &b]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let refused = app.post(&key, &format!("/api/v1/jobs/{b}/revert")).await;
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.unwrap();
    let message = refused["data"]["message"].as_str().unwrap();
    assert!(
        stderr(&out).contains(&format!("{message} (HTTP 409)")),
        "{}",
        stderr(&out)
    );
    assert_eq!(opportunities(&app, &key).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_changed_since_are_left_alone_saved_and_exit_2() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let header = "Opportunity ID,Opportunity Name,Amount\n";
    upload(
        &app,
        &key,
        "a.csv",
        &format!("{header}C1,One,10\nC2,Two,20\n"),
    )
    .await;
    let b = upload(
        &app,
        &key,
        "b.csv",
        &format!("{header}C1,One,11\nC2,Two,21\nC3,Three,30\n"),
    )
    .await;
    // C changes C2 again after B: B's revert must not undo C's work.
    upload(&app, &key, "c.csv", &format!("{header}C2,Two,22\n")).await;

    let errors = app.storage.path().join("conflicts.csv");
    let out = app
        .client(
            &key,
            &["revert", &b, "--errors", errors.to_str().unwrap(), "--json"],
        )
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let job: Value = serde_json::from_slice(&out.stdout).expect("stdout is the job's JSON");
    assert_eq!(job["state"], "completed");
    assert_eq!(job["reverts_job_id"], b.as_str());
    assert_eq!(job["deleted_rows"], 1);
    assert_eq!(job["restored_rows"], 1);
    assert_eq!(job["conflict_rows"], 1);
    assert_eq!(job["total_error_rows"], 1);

    let stored = opportunities(&app, &key).await;
    let amounts: Vec<(&str, f64)> = stored
        .iter()
        .map(|o| {
            (
                o["external_opp_id"].as_str().unwrap(),
                o["amount"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(amounts, [("C1", 10.0), ("C2", 22.0)]);

    // The conflict is the revert's failed row, code changed_since, saved as --errors.
    let id = job["id"].as_str().unwrap();
    let body: Value = app
        .get(
            &key,
            &format!("/api/v1/jobs/{id}/errors?code=changed_since"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let saved = std::fs::read_to_string(&errors).unwrap();
    let saved = saved
        .strip_prefix('\u{feff}')
        .expect("the API's BOM is kept");
    assert_eq!(saved, app.error_csv(&key, &job).await);
}
