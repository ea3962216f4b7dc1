//! Postgres going away, on a cluster of the test's own: restarted mid-import, and down
//! while a client uploads.

use std::{collections::BTreeSet, time::Duration};

use crate::{
    checks::{self, Expected},
    csv_files::{self, opportunities},
    postgres::PgCluster,
    process::serial,
    redis::RedisServer,
    smtp::SmtpServer,
    stack::{Services, Stack},
};

/// The last fault is over once every job is terminal within this bound.
const BOUND: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_import_loses_no_job() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut postgres = PgCluster::start().await;
    let mut stack = Stack::new(
        Services {
            database_url: postgres.url("batch_import"),
            redis_url: redis.url(),
            smtp_url: smtp.url(),
            storage_dir: None,
        },
        &[],
    )
    .await;
    stack.start_api().await;
    stack.start_worker();
    stack.start_worker();
    let key = stack.admin_key();

    let holds = ["HOLD-1", "HOLD-2", "HOLD-3"];
    let seed = format!(
        "Opportunity ID,Opportunity Name\n{}\n",
        holds.map(|h| format!("{h},held")).join("\n")
    );
    let seed_job = stack.upload_job(&key, "opportunities", "", seed).await;
    checks::all_terminal_within(&mut stack, BOUND).await;
    let mut expected = vec![Expected {
        job: seed_job,
        rows: 3,
        errors: 0,
    }];
    let mut stored: BTreeSet<String> = holds.iter().map(|h| (*h).to_owned()).collect();

    // Three imports, each waiting on a locked key half-way through its file.
    let hold = csv_files::hold(&stack.db, &holds).await;
    let mut held = Vec::new();
    for (n, h) in holds.iter().enumerate() {
        let file = opportunities(&format!("P{n}"), 600, Some(60), Some(h));
        let job = stack
            .upload_job(&key, "opportunities", "send_error_email=true", file.csv)
            .await;
        held.push(job);
        expected.push(Expected {
            job,
            rows: file.rows,
            errors: file.errors,
        });
        stored.extend(file.ids);
    }
    stack.wait_midway(&held).await;

    // The lock's connection dies with the server; the imports continue after the restart.
    postgres.stop();
    drop(hold);
    tokio::time::sleep(Duration::from_secs(2)).await;
    postgres.start_again().await;

    let after = opportunities("AFTER", 90, Some(30), None);
    let job = stack
        .upload_job(&key, "opportunities", "send_error_email=true", after.csv)
        .await;
    expected.push(Expected {
        job,
        rows: after.rows,
        errors: after.errors,
    });
    stored.extend(after.ids);

    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_upload_time_answers_503_and_strands_nothing() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut postgres = PgCluster::start().await;
    let mut stack = Stack::new(
        Services {
            database_url: postgres.url("batch_import"),
            redis_url: redis.url(),
            smtp_url: smtp.url(),
            storage_dir: None,
        },
        &[],
    )
    .await;
    stack.start_api().await;
    stack.start_worker();
    let key = stack.admin_key();
    let before = opportunities("BEFORE", 40, Some(20), None);
    let before_job = stack
        .upload_job(&key, "opportunities", "send_error_email=true", before.csv)
        .await;
    checks::all_terminal_within(&mut stack, BOUND).await;

    postgres.stop();
    let refused = opportunities("REFUSED", 40, None, None);
    let (status, body) = stack
        .upload(&key, "opportunities", "send_error_email=true", refused.csv)
        .await;
    assert_eq!(status, 503, "an upload while Postgres is down: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "JSend error with a message: {body}"
    );
    let (status, body) = stack.get("", "/api/v1/readyz").await;
    assert_eq!(status, 503, "readyz while Postgres is down: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");
    let (status, body) = stack.get(&key, "/api/v1/jobs").await;
    assert_eq!(status, 503, "a read while Postgres is down: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");

    postgres.start_again().await;
    let after = opportunities("AFTER", 40, Some(20), None);
    let after_job = stack
        .upload_job(&key, "opportunities", "send_error_email=true", after.csv)
        .await;
    let expected = [
        Expected {
            job: before_job,
            rows: before.rows,
            errors: before.errors,
        },
        Expected {
            job: after_job,
            rows: after.rows,
            errors: after.errors,
        },
    ];
    let stored = before.ids.union(&after.ids).cloned().collect();
    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
}
