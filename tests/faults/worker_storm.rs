//! kill -9 of workers, again and again, while six imports run.

use std::time::Duration;

use crate::{
    checks::Ledger,
    scenario::{Options, Scenario},
};

/// Every job is terminal within this bound once the storm is over.
const BOUND: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_kill_storm_over_concurrent_imports_loses_nothing_and_doubles_nothing() {
    let mut s = Scenario::start(Options {
        workers: 3,
        // The storm may cut a job's run many times; this scenario is about surviving
        // that, not about the give-up rule for a job that kills its worker every time.
        // All six imports are one tenant's and must run at once: no per-tenant cap.
        extra_env: &[
            ("JOB_MAX_ATTEMPTS", "50"),
            ("JOB_MAX_LOST_RUNS", "50"),
            ("TENANT_MAX_RUNNING", "0"),
        ],
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();

    // Six imports (3 workers × 2 slots), each held mid-file by a locked key.
    let holds: Vec<String> = (0..6).map(|n| format!("HOLD-{n}")).collect();
    let hold_ids: Vec<&str> = holds.iter().map(String::as_str).collect();
    let (hold, running) = s
        .hold_imports(&mut ledger, &hold_ids, ("S", 800, 100), BOUND)
        .await;

    // The storm: every second one worker dies by SIGKILL and a fresh one starts.
    s.kill_workers(8).await;
    hold.commit().await.unwrap();

    s.nothing_lost(&ledger, BOUND).await;
    s.assert_runs_cut_short(&running).await;
}
