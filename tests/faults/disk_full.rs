//! `STORAGE_DIR` on a 2 MB tmpfs: an upload that does not fit answers `507` (JSend) and
//! keeps nothing; the next one that fits works. Mounting needs root (`.ci/run` is root).

use std::time::Duration;

use crate::{
    checks::Ledger,
    csv_files::opportunities,
    process::eventually,
    scenario::{Options, Scenario},
    stack::file_names,
};

const BOUND: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_keeps_nothing() {
    // The scenario drops its processes before it unmounts the tmpfs.
    let mut s = Scenario::start(Options {
        storage_tmpfs: Some("2m"),
        ..Options::default()
    })
    .await;
    let (stack, key) = (&s.stack, &s.key);

    // About 3 MB: under the upload limit, over the free space.
    let big = opportunities("BIG", 60_000, None, None);
    assert!(big.csv.len() > 2 * 1024 * 1024);
    let (status, body) = stack
        .upload(key, "opportunities", "", big.csv.clone())
        .await;
    assert_eq!(status, 507, "an upload the disk cannot hold: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");
    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        ["storage", "space", "full"]
            .iter()
            .any(|w| message.contains(w)),
        "the message says storage is full: {body}"
    );
    let uploads = stack.uploads();
    assert!(
        eventually(Duration::from_secs(5), || {
            let empty = file_names(&uploads).is_empty();
            async move { empty }
        })
        .await,
        "nothing of the refused upload is kept: {:?}",
        file_names(&uploads)
    );
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM import_jobs WHERE state IN ('queued', 'running')")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(open, 0, "no job waits for a file that was not stored");

    // The space is free again: a file that fits imports.
    let mut ledger = Ledger::default();
    s.import(&mut ledger, opportunities("SMALL", 200, Some(50), None))
        .await;
    s.nothing_lost(&ledger, BOUND).await;
}
