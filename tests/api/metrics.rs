//! `GET /metrics` on the API (no key) and on a worker's `METRICS_ADDR`: a scrape after an
//! import shows the counts moved by exactly that import.

use std::time::{Duration, Instant};

use crate::helpers::{Counts, assert_counts, process_env, spawn_app_with};

/// The value of the sample `name{labels…}`, 0 when absent (a series not yet recorded).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_an_import_shows_exactly_that_import() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let worker_metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .arg("work")
        .envs(process_env(&app.settings))
        .env("METRICS_ADDR", worker_metrics.to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let api = format!("{}/metrics", app.address);
    let completed = [("kind", "opportunities"), ("state", "completed")];
    let imported = [("kind", "opportunities"), ("outcome", "imported")];
    let failed = [("kind", "opportunities"), ("outcome", "failed")];
    let before = scrape(&api).await;

    let csv = "Opportunity ID,Opportunity Name,Amount\nA,a,1\nB,b,x\nC,c,3\nD,d,y\nE,e,5\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_counts(&job, Counts::new().imported(3));

    let after = scrape(&api).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert_eq!(moved("batch_import_jobs", &completed), 1.0, "{after}");
    assert_eq!(moved("batch_import_job_rows", &imported), 3.0, "{after}");
    assert_eq!(moved("batch_import_job_rows", &failed), 2.0, "{after}");
    assert!(
        sample(
            &after,
            "batch_import_http_requests_total",
            &[("route", "/api/v1/opportunities/upload"), ("status", "202")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("batch_import_http_request_duration_seconds_bucket"),
        "{after}"
    );
    assert!(after.contains("batch_import_queue_depth"), "{after}");
    // Tenant labels are off by default: no series names a tenant.
    assert!(!after.contains("tenant="), "{after}");

    // The worker's own process metrics, on its METRICS_ADDR.
    let url = format!("http://{worker_metrics}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let worker = loop {
        if let Ok(response) = reqwest::get(&url).await {
            break response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the worker serves its metrics");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&worker, "batch_import_jobs_ended_total", &completed),
        1.0,
        "{worker}"
    );
    assert_eq!(
        sample(&worker, "batch_import_rows_total", &imported),
        3.0,
        "{worker}"
    );
    assert_eq!(
        sample(&worker, "batch_import_rows_total", &failed),
        2.0,
        "{worker}"
    );
    assert_eq!(
        sample(
            &worker,
            "batch_import_import_duration_seconds_count",
            &[("kind", "opportunities")]
        ),
        1.0,
        "{worker}"
    );
    // How long the job waited for its first run, by kind only.
    assert!(
        worker.contains("batch_import_queue_wait_seconds_bucket{kind=\"opportunities\",le="),
        "{worker}"
    );
    assert_eq!(
        sample(
            &worker,
            "batch_import_queue_wait_seconds_count",
            &[("kind", "opportunities")]
        ),
        1.0,
        "{worker}"
    );
    assert!(!worker.contains("tenant="), "{worker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tenant_labels_each_tenants_queued_jobs_are_counted_and_fall_back_to_zero() {
    let app = spawn_app_with(|s| s.metrics_tenant_labels = true, false).await;
    let alpha = app.key("alpha", "ops@alpha.example.com", true).await;
    let beta = app.key("beta", "ops@beta.example.com", true).await;
    let api = format!("{}/metrics", app.address);
    let csv = "Opportunity ID,Opportunity Name,Amount\nA,a,1\n";
    let mut jobs = Vec::new();
    for (key, count) in [(&alpha, 3), (&beta, 2)] {
        for _ in 0..count {
            jobs.push((key, app.upload_job(key, "opportunities", "", csv).await));
        }
    }
    let tenant_jobs = |text: &str, tenant: &str, state: &str| {
        sample(
            text,
            "batch_import_tenant_jobs",
            &[("tenant", tenant), ("state", state)],
        )
    };
    let before = scrape(&api).await;
    assert_eq!(tenant_jobs(&before, "alpha", "queued"), 3.0, "{before}");
    assert_eq!(tenant_jobs(&before, "beta", "queued"), 2.0, "{before}");
    assert_eq!(tenant_jobs(&before, "alpha", "running"), 0.0, "{before}");
    // Each tenant's running count is reported, 0 included.
    assert_eq!(
        before
            .lines()
            .filter(|line| line.starts_with("batch_import_tenant_jobs{")
                && line.contains("state=\"running\""))
            .count(),
        2,
        "{before}"
    );

    let worker_metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .arg("work")
        .envs(process_env(&app.settings))
        .env("METRICS_ADDR", worker_metrics.to_string())
        .env("METRICS_TENANT_LABELS", "true")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for (key, id) in &jobs {
        let job = app.wait_for_job(key, id).await;
        assert_eq!(job["state"], "completed", "{job}");
    }
    // No tenant has a job queued or running any more: both are reported 0, not the count
    // the last scrape saw.
    let after = scrape(&api).await;
    for tenant in ["alpha", "beta"] {
        for state in ["queued", "running"] {
            assert_eq!(
                tenant_jobs(&after, tenant, state),
                0.0,
                "{tenant} {state}: {after}"
            );
        }
    }
    assert!(
        after.contains("batch_import_tenant_jobs{") && after.contains("tenant=\"alpha\""),
        "the drained tenants are still reported: {after}"
    );

    // The worker labels the queue wait by tenant too.
    let url = format!("http://{worker_metrics}/metrics");
    let worker = scrape(&url).await;
    for (tenant, count) in [("alpha", 3.0), ("beta", 2.0)] {
        assert_eq!(
            sample(
                &worker,
                "batch_import_queue_wait_seconds_count",
                &[("kind", "opportunities"), ("tenant", tenant)]
            ),
            count,
            "{worker}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_and_waiting_tasks_are_counted_and_fall_back_to_zero_once_drained() {
    // An autoscaler reads `queued` and `running`: they must return to 0 once the queue is
    // drained, not keep the last count a scrape saw.
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let api = format!("{}/metrics", app.address);
    let queued = [("kind", "opportunities"), ("state", "queued")];
    let id = app
        .upload_job(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name,Amount\nA,a,1\n",
        )
        .await;
    let before = scrape(&api).await;
    assert_eq!(
        sample(&before, "batch_import_jobs", &queued),
        1.0,
        "{before}"
    );
    // The waiting task is counted: apalis-redis keeps it in a sorted set, not in the list
    // a plain LLEN (or KEDA's Redis list trigger) would read.
    assert_eq!(
        sample(&before, "batch_import_queue_depth", &[]),
        1.0,
        "{before}"
    );
    // Every kind and state is reported, those without jobs as 0.
    assert!(
        before.contains("batch_import_jobs{kind=\"sales_targets\",state=\"running\"} 0"),
        "{before}"
    );

    let _worker = crate::helpers::worker_process(&app.settings);
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    let after = scrape(&api).await;
    assert_eq!(sample(&after, "batch_import_jobs", &queued), 0.0, "{after}");
    assert_eq!(
        sample(&after, "batch_import_queue_depth", &[]),
        0.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "batch_import_jobs",
            &[("kind", "opportunities"), ("state", "completed")]
        ),
        1.0,
        "{after}"
    );
}
