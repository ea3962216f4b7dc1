//! Fair scheduling across tenants and the per-tenant limits, checked at the pick itself
//! (`db::schedule::claim_next`, worker-less apps so that nothing else claims) and at the
//! upload route (`tenant_max_queued`). The fault suite's `fairness` module runs the same
//! rules with real worker processes.

use std::time::Duration;

use batch_import::db::{
    self,
    jobs::Lease,
    schedule::{PickOrder, PickRules},
};
use batch_import::domain::{ImportCounts, JobState};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, opportunities_csv, spawn_app_with};

fn rules(order: PickOrder, tenant_max_running: u32) -> PickRules {
    PickRules {
        order,
        tenant_max_running,
        max_attempts: 5,
        max_lost_runs: 3,
    }
}

fn lease() -> Lease {
    Lease {
        owner: format!("test/{}", Uuid::new_v4().simple()),
        duration: Duration::from_secs(60),
    }
}

/// Uploads `count` jobs for `key`, in order; returns their ids.
async fn backlog(app: &TestApp, key: &str, label: &str, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..count {
        let csv = opportunities_csv(&format!("{label}{i}-"), 2);
        let id = app.upload_job(key, "opportunities", "", csv).await;
        ids.push(id.parse().unwrap());
    }
    ids
}

/// Claims until nothing may start; returns the claimed jobs' ids with their leases.
async fn claim_all(app: &TestApp, rules: PickRules) -> Vec<(Uuid, Lease)> {
    let mut claimed = Vec::new();
    loop {
        let lease = lease();
        match db::schedule::claim_next(&app.db, &lease, rules)
            .await
            .unwrap()
        {
            Some(job) => {
                assert_eq!(job.state(), JobState::Running);
                claimed.push((job.id, lease));
            }
            None => return claimed,
        }
    }
}

/// Names claimed ids after their uploads (`A1`, `B2`, …) to compare orders readably.
fn named(claimed: &[(Uuid, Lease)], tenants: &[(&str, &[Uuid])]) -> Vec<String> {
    claimed
        .iter()
        .map(|(id, _)| {
            tenants
                .iter()
                .find_map(|(name, ids)| {
                    ids.iter()
                        .position(|j| j == id)
                        .map(|i| format!("{name}{}", i + 1))
                })
                .expect("a job of the test")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_go_round_the_tenants_not_down_the_queue() {
    let app = spawn_app_with(|_| {}, false).await;
    let (a, b, c) = (
        app.admin_key().await,
        app.admin_key().await,
        app.admin_key().await,
    );
    let a_jobs = backlog(&app, &a, "A", 4).await;
    let b_jobs = backlog(&app, &b, "B", 2).await;
    let c_jobs = backlog(&app, &c, "C", 1).await;
    let tenants: [(&str, &[Uuid]); 3] = [("A", &a_jobs), ("B", &b_jobs), ("C", &c_jobs)];

    let order = named(&claim_all(&app, rules(PickOrder::Fair, 0)).await, &tenants);
    assert_eq!(
        order,
        ["A1", "B1", "C1", "A2", "B2", "A3", "A4"],
        "one job per tenant per turn, the tenant served longest ago first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fifo_order_is_the_queue_order_the_benchmark_compares_with() {
    let app = spawn_app_with(|_| {}, false).await;
    let (a, b) = (app.admin_key().await, app.admin_key().await);
    let a_jobs = backlog(&app, &a, "A", 3).await;
    let b_jobs = backlog(&app, &b, "B", 1).await;
    let tenants: [(&str, &[Uuid]); 2] = [("A", &a_jobs), ("B", &b_jobs)];

    let order = named(&claim_all(&app, rules(PickOrder::Fifo, 0)).await, &tenants);
    assert_eq!(order, ["A1", "A2", "A3", "B1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_cap_waits_until_a_run_ends_or_its_lease_lapses() {
    let app = spawn_app_with(|_| {}, false).await;
    let (a, b) = (app.admin_key().await, app.admin_key().await);
    let a_jobs = backlog(&app, &a, "A", 4).await;
    let b_jobs = backlog(&app, &b, "B", 1).await;
    let tenants: [(&str, &[Uuid]); 2] = [("A", &a_jobs), ("B", &b_jobs)];
    let capped = rules(PickOrder::Fair, 2);

    let first = claim_all(&app, capped).await;
    assert_eq!(named(&first, &tenants), ["A1", "B1", "A2"], "A stops at 2");

    // A1's run ends: A's slot is free again and goes to A3.
    let (a1, a1_lease) = &first[0];
    let ended = db::jobs::end(
        &app.db,
        *a1,
        Some(a1_lease),
        JobState::Completed,
        Some(ImportCounts::default()),
        None,
    )
    .await
    .unwrap();
    assert!(ended.is_some());
    let next = claim_all(&app, capped).await;
    assert_eq!(named(&next, &tenants), ["A3"]);

    // A2's worker dies: once its lease lapses the slot it held is free, and A2 (A's
    // oldest job that may start) is taken over, its lost run counted.
    sqlx::query(
        "UPDATE import_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(first[2].0)
    .execute(&app.db)
    .await
    .unwrap();
    let taken_over = claim_all(&app, capped).await;
    assert_eq!(named(&taken_over, &tenants), ["A2"]);
    let a2 = db::jobs::get(&app.db, first[2].0).await.unwrap().unwrap();
    assert_eq!((a2.attempts, a2.lost_runs), (2, 1));
    assert!(
        claim_all(&app, capped).await.is_empty(),
        "A is at its cap again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_or_exhausted_job_is_never_picked() {
    let app = spawn_app_with(|_| {}, false).await;
    let a = app.admin_key().await;
    let jobs = backlog(&app, &a, "A", 3).await;
    let cancelled = app
        .post(&a, &format!("/api/v1/jobs/{}/cancel", jobs[0]))
        .await;
    assert_eq!(cancelled.status(), 200);
    sqlx::query("UPDATE import_jobs SET attempts = 5 WHERE id = $1")
        .bind(jobs[1])
        .execute(&app.db)
        .await
        .unwrap();
    let claimed = claim_all(&app, rules(PickOrder::Fair, 0)).await;
    let ids: Vec<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        [jobs[2]],
        "the one that may still run; the runner fails the other"
    );
}

/// The upload's answer as (status, Retry-After, body).
async fn upload_answer(
    app: &TestApp,
    key: &str,
    idempotency_key: Option<&str>,
    csv: String,
) -> (u16, Option<u64>, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", key)
        .multipart(crate::helpers::csv_form("upload.csv", csv));
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("Idempotency-Key", idempotency_key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry_after, response.json().await.unwrap())
}

async fn job_count(app: &TestApp, key: &str) -> u64 {
    let response = app.get(key, "/api/v1/jobs").await;
    response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn kept_uploads(app: &TestApp) -> usize {
    std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_past_the_queue_limit_is_refused_with_429_and_nothing_is_kept() {
    let app = spawn_app_with(|s| s.tenant_max_queued = 2, false).await;
    let (a, b) = (app.admin_key().await, app.admin_key().await);
    let first = app
        .upload_job(&a, "opportunities", "", opportunities_csv("A1-", 2))
        .await;
    let (status, _, replayable) =
        upload_answer(&app, &a, Some("second"), opportunities_csv("A2-", 2)).await;
    assert_eq!(status, 202, "{replayable}");

    for idempotency_key in [None, Some("a-new-key")] {
        let (status, retry_after, body) =
            upload_answer(&app, &a, idempotency_key, opportunities_csv("A3-", 2)).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["status"], "fail");
        let message = body["data"]["message"].as_str().unwrap();
        assert!(
            message.contains("2 imports waiting") && message.contains("not kept"),
            "{message}"
        );
        let retry_after = retry_after.expect("a Retry-After header");
        assert!((1..=300).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(job_count(&app, &a).await, 2, "no job was recorded");
    assert_eq!(kept_uploads(&app), 2, "no refused file was kept");

    // A replay makes nothing, so a full queue does not refuse it.
    let (status, _, replayed) =
        upload_answer(&app, &a, Some("second"), opportunities_csv("A2-", 2)).await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["data"]["id"], replayable["data"]["id"]);

    // Another tenant's queue is its own.
    app.upload_job(&b, "opportunities", "", opportunities_csv("B1-", 2))
        .await;

    // A job that leaves the queue makes room.
    let cancelled = app.post(&a, &format!("/api/v1/jobs/{first}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    app.upload_job(&a, "opportunities", "", opportunities_csv("A3-", 2))
        .await;
    assert_eq!(job_count(&app, &a).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_never_overfill_a_tenants_queue() {
    let app = spawn_app_with(|s| s.tenant_max_queued = 3, false).await;
    let a = app.admin_key().await;
    let uploads = (0..12).map(|i| {
        let (app, a) = (&app, &a);
        async move {
            upload_answer(app, a, None, opportunities_csv(&format!("A{i}-"), 2))
                .await
                .0
        }
    });
    let mut statuses = futures::future::join_all(uploads).await;
    statuses.sort();
    assert_eq!(statuses, [[202; 3].as_slice(), &[429; 9]].concat());
    assert_eq!(job_count(&app, &a).await, 3);
    assert_eq!(kept_uploads(&app), 3);
}
