//! Redis losing its data: restarted empty while jobs wait in it, and killed in the
//! middle of an import.

use std::time::Duration;

use crate::{
    checks::Ledger,
    csv_files::{self, OppFile, opportunities},
    scenario::{Options, Scenario},
};

/// The last fault is over once every job is terminal within this bound.
const BOUND: Duration = Duration::from_secs(45);

/// Uploads `file` with an error report asked for, asserts `202` (saying `what` otherwise)
/// and records what it must give in `ledger`.
async fn accepted(s: &Scenario, ledger: &mut Ledger, file: OppFile, what: &str) {
    let (status, body) = s
        .stack
        .upload(
            &s.key,
            "opportunities",
            "send_error_email=true",
            file.csv.clone(),
        )
        .await;
    assert_eq!(status, 202, "{what}: {body}");
    ledger.add(body["data"]["id"].as_str().unwrap().parse().unwrap(), file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_with_jobs_queued_loses_no_job() {
    let mut s = Scenario::start(Options {
        workers: 0,
        ..Options::default()
    })
    .await;

    // Queued while no worker runs: the tasks exist only in Redis.
    let mut ledger = Ledger::default();
    for n in 0..3 {
        s.import(
            &mut ledger,
            opportunities(&format!("Q{n}"), 120, Some(40), None),
        )
        .await;
    }

    // A restart without persistence (or a failover, or an eviction): the tasks are gone.
    s.redis.kill();
    s.redis.restart_empty().await;
    s.stack.start_worker();
    s.stack.start_worker();

    s.nothing_lost(&ledger, BOUND).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_import_and_restarted_loses_no_job() {
    let mut s = Scenario::start(Options {
        workers: 2,
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();

    // A first file creates the key that holds the next import mid-file.
    let seed = opportunities("SEED", 5, None, Some("HOLD-B"));
    s.seed(&mut ledger, seed, BOUND).await;

    let hold = csv_files::hold(&s.stack.db, &["HOLD-B"]).await;
    let held = opportunities("MID", 1000, Some(100), Some("HOLD-B"));
    let held_job = s.import(&mut ledger, held).await;
    s.stack.wait_midway(&[held_job]).await;

    s.redis.kill();
    // Redis being down delays imports, it does not refuse them.
    let during = opportunities("DOWN", 80, Some(40), None);
    accepted(
        &s,
        &mut ledger,
        during,
        "an upload while Redis is down is accepted",
    )
    .await;

    s.redis.restart_empty().await;
    hold.commit().await.unwrap();
    // The first upload after Redis is back finds a working connection.
    let after = opportunities("AFTER", 80, Some(40), None);
    accepted(
        &s,
        &mut ledger,
        after,
        "the first upload after Redis is back",
    )
    .await;

    s.nothing_lost(&ledger, BOUND).await;
}
