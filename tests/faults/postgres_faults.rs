//! Postgres going away, on a cluster of the test's own: restarted mid-import, and down
//! while a client uploads.

use std::time::Duration;

use crate::{
    checks::{self, Ledger},
    csv_files::opportunities,
    scenario::{Options, Scenario},
};

/// The last fault is over once every job is terminal within this bound.
const BOUND: Duration = Duration::from_secs(45);

/// Postgres of the scenario's own, to stop and restart.
fn own_postgres(workers: usize) -> Options {
    Options {
        workers,
        own_postgres: true,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_import_loses_no_job() {
    let mut s = Scenario::start(own_postgres(2)).await;
    let mut ledger = Ledger::default();

    // Three imports, each waiting on a locked key half-way through its file.
    let holds = ["HOLD-1", "HOLD-2", "HOLD-3"];
    let (hold, _) = s
        .hold_imports(&mut ledger, &holds, ("P", 600, 60), BOUND)
        .await;

    // The lock's connection dies with the server; the imports continue after the restart.
    s.postgres().stop();
    drop(hold);
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.postgres().start_again().await;

    s.import(&mut ledger, opportunities("AFTER", 90, Some(30), None))
        .await;
    s.nothing_lost(&ledger, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_upload_time_answers_503_and_strands_nothing() {
    let mut s = Scenario::start(own_postgres(1)).await;
    let mut ledger = Ledger::default();
    s.import(&mut ledger, opportunities("BEFORE", 40, Some(20), None))
        .await;
    checks::all_terminal_within(&mut s.stack, BOUND).await;

    s.postgres().stop();
    let (stack, key) = (&s.stack, &s.key);
    let refused = opportunities("REFUSED", 40, None, None);
    let (status, body) = stack
        .upload(key, "opportunities", "send_error_email=true", refused.csv)
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
    let (status, body) = stack.get(key, "/api/v1/jobs").await;
    assert_eq!(status, 503, "a read while Postgres is down: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");

    s.postgres().start_again().await;
    s.import(&mut ledger, opportunities("AFTER", 40, Some(20), None))
        .await;
    s.nothing_lost(&ledger, BOUND).await;
}
