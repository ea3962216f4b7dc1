//! kill -9 of workers, again and again, while six imports run.

use std::{collections::BTreeSet, time::Duration};

use crate::{
    checks::{self, Expected},
    csv_files::{self, opportunities},
    process::serial,
    redis::RedisServer,
    smtp::SmtpServer,
    stack::{Services, Stack, shared_database_url},
};

/// Every job is terminal within this bound once the storm is over.
const BOUND: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_kill_storm_over_concurrent_imports_loses_nothing_and_doubles_nothing() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut stack = Stack::new(
        Services {
            database_url: shared_database_url(),
            redis_url: redis.url(),
            smtp_url: smtp.url(),
            storage_dir: None,
        },
        // The storm may cut a job's run many times; this scenario is about surviving
        // that, not about the give-up rule for a job that kills its worker every time.
        &[("JOB_MAX_ATTEMPTS", "50")],
    )
    .await;
    stack.start_api().await;
    for _ in 0..3 {
        stack.start_worker();
    }
    let key = stack.admin_key();

    let holds: Vec<String> = (0..6).map(|n| format!("HOLD-{n}")).collect();
    let seed = format!(
        "Opportunity ID,Opportunity Name\n{}\n",
        holds
            .iter()
            .map(|h| format!("{h},held"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let seed_job = stack.upload_job(&key, "opportunities", "", seed).await;
    checks::all_terminal_within(&mut stack, BOUND).await;
    let mut expected = vec![Expected {
        job: seed_job,
        rows: holds.len() as i64,
        errors: 0,
    }];
    let mut stored: BTreeSet<String> = holds.iter().cloned().collect();

    // Six imports (3 workers × 2 slots), each held mid-file by a locked key.
    let hold_ids: Vec<&str> = holds.iter().map(String::as_str).collect();
    let hold = csv_files::hold(&stack.db, &hold_ids).await;
    let mut running = Vec::new();
    for (n, h) in holds.iter().enumerate() {
        let file = opportunities(&format!("S{n}"), 800, Some(100), Some(h));
        let job = stack
            .upload_job(&key, "opportunities", "send_error_email=true", file.csv)
            .await;
        running.push(job);
        expected.push(Expected {
            job,
            rows: file.rows,
            errors: file.errors,
        });
        stored.extend(file.ids);
    }
    stack.wait_midway(&running).await;

    // The storm: every second one worker dies by SIGKILL and a fresh one starts.
    for round in 0..8 {
        stack.kill_worker(round);
        stack.start_worker();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    hold.commit().await.unwrap();

    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
    let runs: i64 = sqlx::query_scalar("SELECT sum(attempts) FROM import_jobs WHERE id = ANY($1)")
        .bind(&running)
        .fetch_one(&stack.db)
        .await
        .unwrap();
    assert!(
        runs > running.len() as i64,
        "the storm cut runs short ({runs} runs of {} jobs)",
        running.len()
    );
}
