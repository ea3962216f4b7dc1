use std::time::{Duration, Instant};

use crate::helpers::{Counts, assert_counts, spawn_app_with, worker_process};

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
    assert_counts(
        &job,
        Counts::new()
            .original(rows)
            .errors(rows / 4000)
            .imported(rows - rows / 4000),
    );
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

/// A file whose reading kills its worker every time must not be handed from worker to
/// worker for ever: after `job_max_lost_runs` runs that never reported back the job is
/// failed, by a worker that does not read the file again (so it survives), and the rows
/// it never got to are the whole upload, cut without parsing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_runs_keep_killing_their_worker_is_failed_after_the_lost_run_limit() {
    let app = spawn_app_with(
        |s| {
            s.orphan_timeout_secs = 4;
            s.reconcile_interval_secs = 1;
            s.import_chunk_rows = 100;
            s.worker_concurrency = 1;
            s.job_max_lost_runs = 2;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let csv = crate::helpers::opportunities_csv("LOST", 40_000);
    let id = app.upload_job(&key, "opportunities", "", csv.clone()).await;

    // Two runs die mid-file, as a worker killed by a file would.
    for run in 1..=2 {
        let mut worker = worker_process(&app.settings);
        wait_for_run_midway(&app, run).await;
        worker.start_kill().unwrap(); // SIGKILL
        worker.wait().await.unwrap();
    }

    let mut survivor = worker_process(&app.settings);
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(60))
        .await;
    let (attempts, lost_runs): (i32, i32) =
        sqlx::query_as("SELECT attempts, lost_runs FROM import_jobs")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        job["state"], "failed",
        "{job} attempts {attempts} lost {lost_runs}"
    );
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("stopped without reporting back during 2 runs"),
        "{error}"
    );
    assert_eq!((attempts, lost_runs), (2, 2), "no third run was started");
    assert!(
        app.stored_opportunities().await < 40_000,
        "no run got to the end"
    );
    assert!(
        survivor.try_wait().unwrap().is_none(),
        "the worker that ended the job is alive"
    );

    let rest = app
        .get(&key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
        .await;
    assert_eq!(rest.status(), 200);
    assert_eq!(
        rest.text().await.unwrap(),
        csv,
        "the whole upload, as uploaded"
    );
}

/// Waits until run `run` of the only job has committed a chunk.
async fn wait_for_run_midway(app: &crate::helpers::TestApp, run: i32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (state, attempts, rows): (String, i32, i64) =
            sqlx::query_as("SELECT state, attempts, rows_processed FROM import_jobs")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_ne!(
            state, "completed",
            "run {run} finished before it was caught"
        );
        if state == "running" && attempts == run && rows > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never started: {state}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
