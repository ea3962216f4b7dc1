use std::time::Duration;

use serde_json::Value;

use crate::helpers::{opportunities_csv, spawn_app, spawn_app_with, worker_process};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_history_is_newest_first_filtered_and_paged() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let first = app
        .import(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA,B\n",
        )
        .await;
    let second = app
        .import(&key, "contacts", "", "Email\na@example.com\n")
        .await;
    let third = app.import(&key, "opportunities", "", "Nope\nx\n").await;
    let other_tenant = app.admin_key().await;
    app.import(
        &other_tenant,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nA,B\n",
    )
    .await;

    let response = app.get(&key, "/api/v1/jobs").await;
    assert_eq!(response.headers()["x-total-count"], "3");
    let body: Value = response.json().await.unwrap();
    let ids: Vec<&Value> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["id"])
        .collect();
    assert_eq!(ids, [&third["id"], &second["id"], &first["id"]]);

    let body: Value = app
        .get(&key, "/api/v1/jobs?kind=opportunities&state=failed")
        .await
        .json()
        .await
        .unwrap();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], third["id"]);

    let page = app
        .get(&key, "/api/v1/jobs?limit=1&kind=opportunities")
        .await;
    assert_eq!(page.headers()["x-total-count"], "2");
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("kind=opportunities") && link.contains("offset=1"),
        "{link}"
    );

    assert_eq!(
        app.get(&key, "/api/v1/jobs?state=sleeping").await.status(),
        400
    );
    assert_eq!(app.get(&key, "/api/v1/jobs?kind=leads").await.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_queued_job_never_runs() {
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

    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["state"], "cancelled");

    // A worker that starts now receives the task and leaves the job alone.
    let _worker = worker_process(&app.settings);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "cancelled");
    assert!(job["started_at"].is_null());
    assert_eq!(job["total_imported_rows"], 0);
    let stored = app.stored_opportunities().await;
    assert_eq!(stored, 0);

    let again = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(again.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_stops_at_a_chunk_boundary_and_keeps_what_it_committed() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("C", 30_000);
    let file_size = csv.len() as i64;
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    app.wait_until_midway(&key, &id).await;
    let reader = app.key("rep-tenant", "rep@example.com", false).await;
    let forbidden = app
        .post(&reader, &format!("/api/v1/jobs/{id}/cancel"))
        .await;
    assert_eq!(forbidden.status(), 403);

    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 202);
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    let imported = job["total_imported_rows"].as_i64().unwrap();
    assert!(imported > 0 && imported < 30_000, "{job}");
    let stored = app.stored_opportunities().await;
    assert_eq!(stored, imported, "the committed rows stay");
    // Progress in bytes stops where the committed rows end.
    assert_eq!(job["file_size"], file_size, "{job}");
    let bytes = job["bytes_processed"].as_i64().unwrap();
    assert!(bytes > 0 && bytes < file_size, "{job}");
    let percent = job["progress_percent"].as_i64().unwrap();
    assert_eq!(percent, bytes * 100 / file_size, "{job}");
    assert!(percent < 100, "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains(&format!("after {imported} rows")),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_has_read_its_whole_file() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("P", 50);
    let file_size = csv.len() as i64;
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["file_size"], file_size, "{job}");
    assert_eq!(job["bytes_processed"], file_size, "{job}");
    assert_eq!(job["progress_percent"], 100, "{job}");
}

/// Workers are woken by the push itself: an idle worker whose fallback poll is 30 s away
/// (and whose heartbeat is minutes away, in case it makes the worker look) still starts an
/// uploaded job at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_is_woken_by_the_push_not_its_poll_interval() {
    let app = spawn_app_with(
        |s| {
            s.worker_poll_interval_ms = 30_000;
            s.orphan_timeout_secs = 600;
        },
        true,
    )
    .await;
    let key = app.admin_key().await;
    // Past the worker's first looks at the queue (at start and after subscribing).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("wake", 3))
        .await;
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(10))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "picked up by the 30 s poll, not by the push"
    );
}

/// The signal the worker waits on fires when the API's queue pushes a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_the_listener() {
    use batch_import::jobs::{queue::JobQueue, wake};
    use futures::StreamExt;

    let app = spawn_app_with(|_| {}, false).await;
    let config = batch_import::jobs::queue::queue_config(&app.settings);
    let mut signal = wake::WakeSignal::default();
    let listener = tokio::spawn(wake::listen_forever(
        app.settings.redis_url.clone(),
        wake::channel(&config),
        signal.clone(),
    ));
    // The listener wakes once when its subscription is up.
    tokio::time::timeout(Duration::from_secs(10), signal.next())
        .await
        .expect("the subscription is made");
    let queue = JobQueue::lazy(&app.settings).unwrap();
    queue
        .enqueue(uuid::Uuid::new_v4(), uuid::Uuid::new_v4())
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(10), signal.next()).await;
    listener.abort();
    assert!(matches!(woken, Ok(Some(()))), "no wake-up after the push");
}
