//! Redis losing its data: restarted empty while jobs wait in it, and killed in the
//! middle of an import.

use std::{collections::BTreeSet, time::Duration};

use crate::{
    checks::{self, Expected},
    csv_files::{self, opportunities},
    process::serial,
    redis::RedisServer,
    smtp::SmtpServer,
    stack::{Services, Stack, shared_database_url},
};

/// The last fault is over once every job is terminal within this bound.
const BOUND: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_with_jobs_queued_loses_no_job() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut stack = Stack::new(
        Services {
            database_url: shared_database_url(),
            redis_url: redis.url(),
            smtp_url: smtp.url(),
            storage_dir: None,
        },
        &[],
    )
    .await;
    stack.start_api().await;
    let key = stack.admin_key();

    // Queued while no worker runs: the tasks exist only in Redis.
    let mut expected = Vec::new();
    let mut stored = BTreeSet::new();
    for n in 0..3 {
        let file = opportunities(&format!("Q{n}"), 120, Some(40), None);
        let job = stack
            .upload_job(&key, "opportunities", "send_error_email=true", file.csv)
            .await;
        expected.push(Expected {
            job,
            rows: file.rows,
            errors: file.errors,
        });
        stored.extend(file.ids);
    }

    // A restart without persistence (or a failover, or an eviction): the tasks are gone.
    redis.kill();
    redis.restart_empty().await;
    stack.start_worker();
    stack.start_worker();

    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_import_and_restarted_loses_no_job() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut stack = Stack::new(
        Services {
            database_url: shared_database_url(),
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

    // A first file creates the key that holds the next import mid-file.
    let seed = opportunities("SEED", 5, None, Some("HOLD-B"));
    let seed_job = stack
        .upload_job(&key, "opportunities", "", seed.csv.clone())
        .await;
    checks::all_terminal_within(&mut stack, BOUND).await;
    let mut expected = vec![Expected {
        job: seed_job,
        rows: seed.rows,
        errors: 0,
    }];
    let mut stored = seed.ids;

    let hold = csv_files::hold(&stack.db, &["HOLD-B"]).await;
    let held = opportunities("MID", 1000, Some(100), Some("HOLD-B"));
    let held_job = stack
        .upload_job(&key, "opportunities", "send_error_email=true", held.csv)
        .await;
    stack.wait_midway(&[held_job]).await;
    expected.push(Expected {
        job: held_job,
        rows: held.rows,
        errors: held.errors,
    });
    stored.extend(held.ids);

    redis.kill();
    // Redis being down delays imports, it does not refuse them.
    let during = opportunities("DOWN", 80, Some(40), None);
    let (status, body) = stack
        .upload(&key, "opportunities", "send_error_email=true", during.csv)
        .await;
    assert_eq!(
        status, 202,
        "an upload while Redis is down is accepted: {body}"
    );
    expected.push(Expected {
        job: body["data"]["id"].as_str().unwrap().parse().unwrap(),
        rows: during.rows,
        errors: during.errors,
    });
    stored.extend(during.ids);

    redis.restart_empty().await;
    hold.commit().await.unwrap();
    // The first upload after Redis is back finds a working connection.
    let after = opportunities("AFTER", 80, Some(40), None);
    let (status, body) = stack
        .upload(&key, "opportunities", "send_error_email=true", after.csv)
        .await;
    assert_eq!(status, 202, "the first upload after Redis is back: {body}");
    expected.push(Expected {
        job: body["data"]["id"].as_str().unwrap().parse().unwrap(),
        rows: after.rows,
        errors: after.errors,
    });
    stored.extend(after.ids);

    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
}
