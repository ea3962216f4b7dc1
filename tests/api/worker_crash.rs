use std::time::{Duration, Instant};

use crate::helpers::{spawn_app_with, worker_process};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_import_is_replaced_and_the_job_completes_once() {
    let app = spawn_app_with(
        |s| {
            s.orphan_timeout_secs = 8;
            s.import_chunk_rows = 100;
            s.worker_concurrency = 1;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let rows = 40_000;
    let mut csv = String::from("Opportunity ID,Opportunity Name,Amount,Close Date\n");
    for i in 0..rows {
        if i % 4000 == 0 {
            csv.push_str(&format!(
                "OPP-{i},\"Deal {i}, bad\",not-a-number,2017-02-15\n"
            ));
        } else {
            csv.push_str(&format!("OPP-{i},\"Deal {i}, good\",{i}.50,2017-02-15\n"));
        }
    }

    let mut first = worker_process(&app.settings);
    let id = app.upload_job(&key, "opportunities", "", csv).await;

    // Kill -9 once the job is visibly part-way through.
    app.wait_until_midway(&key, &id).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();

    let killed_at = Instant::now();
    let _second = worker_process(&app.settings);
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(90))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["total_original_rows"], rows);
    assert_eq!(job["total_error_rows"], rows / 4000);
    assert_eq!(job["total_imported_rows"], rows - rows / 4000);
    assert!(
        killed_at.elapsed() < Duration::from_secs(60),
        "picked up again within 60 s"
    );

    let stored = app.stored_opportunities().await;
    assert_eq!(
        stored,
        (rows - rows / 4000) as i64,
        "the re-run upserted, it did not duplicate"
    );
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(attempts, 2);
    let errors = app.error_csv(&key, &job).await;
    assert_eq!(
        errors.lines().count(),
        1 + rows / 4000,
        "the error file holds one run's errors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_on_every_attempt_is_failed_not_rerun_forever() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA,B\n",
        )
        .await;
    // As if five workers had each died mid-run on this file.
    sqlx::query("UPDATE import_jobs SET state = 'running', attempts = $1")
        .bind(app.settings.job_max_attempts as i32)
        .execute(&app.db)
        .await
        .unwrap();
    let _worker = worker_process(&app.settings);
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 5 attempts"),
        "{job}"
    );
    let stored = app.stored_opportunities().await;
    assert_eq!(stored, 0, "it was not run a sixth time");
}
