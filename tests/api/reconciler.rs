//! Postgres is the only truth: jobs whose queue task was lost are enqueued again, a run
//! holds its job under a lease, and two deliveries of one job import it once.

use std::time::Duration;

use batch_import::{
    db::{
        self,
        jobs::{Lease, Renewal},
    },
    domain::JobState,
    startup,
};
use uuid::Uuid;

use crate::helpers::{Counts, assert_counts, opportunities_csv, spawn_app_with, worker_process};

/// Deletes every Redis key of the test's queue, as a Redis restart without persistence
/// (or a failover, or an eviction) would.
async fn lose_the_queue(namespace: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the uploads were queued in Redis");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_whose_tasks_redis_lost_are_enqueued_again_from_postgres() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let mut ids = Vec::new();
    for (prefix, rows) in [("A", 4), ("B", 5), ("C", 6)] {
        ids.push((
            app.upload_job(&key, "opportunities", "", opportunities_csv(prefix, rows))
                .await,
            rows,
        ));
    }
    lose_the_queue(&app.settings.queue_namespace).await;

    let _worker = worker_process(&app.settings);
    for (id, rows) in &ids {
        let job = app
            .wait_for_job_within(&key, id, Duration::from_secs(60))
            .await;
        assert_eq!(job["state"], "completed", "{job}");
        assert_counts(&job, Counts::new().imported(*rows));
    }
    assert_eq!(app.stored_opportunities().await, 15);
}

/// The pick's rules of the default settings.
const RULES: db::schedule::PickRules = db::schedule::PickRules {
    order: db::schedule::PickOrder::Fair,
    tenant_max_running: 4,
    max_attempts: 5,
    max_lost_runs: 3,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_held_by_one_run_and_a_run_that_lost_it_writes_nothing() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let id: Uuid = app
        .upload_job(&key, "opportunities", "", opportunities_csv("L", 2))
        .await
        .parse()
        .unwrap();
    let lease = |owner: &str| Lease {
        owner: owner.into(),
        duration: Duration::from_secs(30),
    };
    let (first, second) = (lease("first"), lease("second"));

    let claimed = db::schedule::claim_next(&app.db, &first, RULES)
        .await
        .unwrap();
    assert_eq!(claimed.unwrap().state(), JobState::Running);
    assert!(
        db::schedule::claim_next(&app.db, &second, RULES)
            .await
            .unwrap()
            .is_none(),
        "a held job cannot be claimed"
    );
    assert_eq!(
        db::jobs::renew(&app.db, id, &first, Some((1, 10)))
            .await
            .unwrap(),
        Renewal::Held
    );

    // The first run stops reporting; its lease lapses and the second run takes over.
    sqlx::query("UPDATE import_jobs SET lease_expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert!(
        db::schedule::claim_next(&app.db, &second, RULES)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        db::jobs::renew(&app.db, id, &first, Some((2, 20)))
            .await
            .unwrap(),
        Renewal::Lost,
        "the first run learns at its next chunk that it lost the job"
    );
    let counts = batch_import::domain::ImportCounts {
        total_original_rows: 99,
        total_imported_rows: 99,
        total_error_rows: 0,
        created_rows: 99,
        updated_rows: 0,
        unchanged_rows: 0,
        ..Default::default()
    };
    assert!(
        db::jobs::end(
            &app.db,
            id,
            Some(&first),
            JobState::Completed,
            Some(counts),
            None
        )
        .await
        .unwrap()
        .is_none(),
        "a run without the lease cannot end the job"
    );
    let job = db::jobs::get(&app.db, id).await.unwrap().unwrap();
    assert_eq!(job.state(), JobState::Running);
    assert_eq!(job.total_imported_rows, None, "no counts from the lost run");
    assert_eq!(job.lease_owner.as_deref(), Some("second"));
    assert_eq!(job.attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deliveries_of_one_job_import_it_once() {
    let app = spawn_app_with(|s| s.import_chunk_rows = 100, false).await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("D", 3000))
        .await;
    let ctx = startup::worker_context(app.settings.clone(), false)
        .await
        .unwrap();
    let job_id: Uuid = id.parse().unwrap();
    tokio::join!(
        batch_import::jobs::execute(&ctx, job_id),
        batch_import::jobs::execute(&ctx, job_id)
    );
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(3000).imported(3000));
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        attempts, 1,
        "the second delivery found the job held or ended"
    );
    assert_eq!(app.stored_opportunities().await, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_sends_the_job_back_to_the_queue_with_a_backoff() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name,Amount\nT-1,Good,1\nT-2,Bad,not-a-number\n";
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    let job_id: Uuid = id.parse().unwrap();
    // The error file cannot be written (its folder is a file now): an I/O error, worth
    // a retry, unlike a bad file.
    let ctx = startup::worker_context(app.settings.clone(), false)
        .await
        .unwrap();
    let errors_dir = app.storage.path().join("errors");
    std::fs::remove_dir_all(&errors_dir).unwrap();
    std::fs::write(&errors_dir, b"in the way").unwrap();
    batch_import::jobs::execute(&ctx, job_id).await;
    let job = db::jobs::get(&app.db, job_id).await.unwrap().unwrap();
    assert_eq!(job.state(), JobState::Queued, "released for a retry");
    assert!(job.run_after > chrono::Utc::now(), "after a backoff");
    assert!(job.error.unwrap().contains("attempt 1 failed"));

    // The disk is fixed; the reconciler of a worker re-enqueues the job when it is due.
    std::fs::remove_file(&errors_dir).unwrap();
    std::fs::create_dir(&errors_dir).unwrap();
    let _worker = worker_process(&app.settings);
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(60))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(1).errors(1));
    assert_eq!(job["error"], serde_json::Value::Null);
}
