//! kill -9 of workers mid-import with uploads and error files in a bucket (moto): the
//! counts are exact, and what stays in the bucket is what the file backend would keep.

use std::time::{Duration, Instant};

use crate::{
    checks::Ledger,
    scenario::{Options, S3_PREFIX, Scenario},
};

/// Every job is terminal within this bound once the kills are over.
const BOUND: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_workers_killed_mid_import_lose_nothing_and_leave_only_error_files() {
    let mut s = Scenario::start(Options {
        workers: 2,
        s3: true,
        // Each run is cut short by a kill; this scenario is not about the give-up rule.
        extra_env: &[("JOB_MAX_ATTEMPTS", "50"), ("JOB_MAX_LOST_RUNS", "50")],
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();

    // Four imports (2 workers × 2 slots), each held mid-file by a locked key: each worker
    // has streamed its uploads from the bucket into spool files and is writing error CSVs.
    let holds: Vec<String> = (0..4).map(|n| format!("S3HOLD-{n}")).collect();
    let hold_ids: Vec<&str> = holds.iter().map(String::as_str).collect();
    let (hold, running) = s
        .hold_imports(&mut ledger, &hold_ids, ("S3K", 800, 100), BOUND)
        .await;
    s.kill_workers(4).await;
    hold.commit().await.unwrap();

    s.nothing_lost(&ledger, BOUND).await;
    s.assert_runs_cut_short(&running).await;

    // Every ended job's upload is deleted from the bucket; no unfinished upload stays.
    let moto = s.moto();
    let uploads = format!("{S3_PREFIX}/uploads/");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = moto.keys(&uploads).await;
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "uploads left in the bucket: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(moto.incomplete_uploads().await.is_empty());

    // Each held job's error CSV in the bucket holds exactly its failed rows, once each
    // (the last run's file, not a mix of the killed runs' files).
    for job in &running {
        let errors: i64 =
            sqlx::query_scalar("SELECT total_error_rows FROM import_jobs WHERE id = $1")
                .bind(job)
                .fetch_one(&s.stack.db)
                .await
                .unwrap();
        assert!(errors > 0, "job {job} has failed rows");
        let object = moto
            .object(&format!("{S3_PREFIX}/errors/{job}.csv"))
            .await
            .unwrap_or_else(|| panic!("job {job}'s error CSV is in the bucket"));
        let text = String::from_utf8(object).unwrap();
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let ids: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(ids.len(), errors as usize, "job {job}: {text}");
        assert_eq!(distinct.len(), ids.len(), "job {job}: a failed row twice");
    }
}
