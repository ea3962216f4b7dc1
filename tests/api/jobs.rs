use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    Counts, assert_counts, opportunities_csv, spawn_app, spawn_app_with, worker_process,
};

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
    assert_counts(&job, Counts::new().imported(0));
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

/// A queued job shows how many queued jobs go before it, by turns (every tenant's oldest
/// queued job, then every tenant's second, …; within a turn, upload order): in the
/// upload's answer, on the job and in the list. Only a count: another tenant's jobs are
/// counted, never named. A job that is not queued has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_shows_the_jobs_ahead_of_it_by_turns() {
    // No worker: every job stays queued until the test says otherwise.
    let app = spawn_app_with(|_| {}, false).await;
    let a = app.admin_key().await;
    let b = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name\nA,B\n";
    // Uploaded in this order: A1 A2 A3 B1 B2. The answer counts the jobs queued so far.
    let mut ids = Vec::new();
    for (key, ahead_at_upload) in [(&a, 0), (&a, 1), (&a, 2), (&b, 1), (&b, 3)] {
        let response = app.upload(key, "opportunities", "", "o.csv", csv).await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["state"], "queued", "{body}");
        assert_eq!(body["data"]["jobs_ahead"], ahead_at_upload, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let [a1, a2, a3, b1, b2] = <[String; 5]>::try_from(ids).unwrap();

    let ahead = |key: String, id: String| {
        let app = &app;
        async move {
            let body: Value = app
                .get(&key, &format!("/api/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            body["data"]["jobs_ahead"].clone()
        }
    };
    // Turn 1: A1, B1; turn 2: A2, B2; turn 3: A3.
    assert_eq!(ahead(a.clone(), a1.clone()).await, 0);
    assert_eq!(ahead(a.clone(), a2.clone()).await, 2);
    assert_eq!(ahead(a.clone(), a3.clone()).await, 4);
    assert_eq!(ahead(b.clone(), b1.clone()).await, 1);
    assert_eq!(ahead(b.clone(), b2.clone()).await, 3);

    // The list: newest first, each with its own count, and no other tenant's id.
    let list = |key: String| {
        let app = &app;
        async move {
            let response = app.get(&key, "/api/v1/jobs").await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            let body: Value = serde_json::from_str(&text).unwrap();
            let pairs: Vec<(String, Value)> = body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| {
                    (
                        j["id"].as_str().unwrap().to_owned(),
                        j["jobs_ahead"].clone(),
                    )
                })
                .collect();
            (text, pairs)
        }
    };
    let (text, pairs) = list(a.clone()).await;
    assert_eq!(
        pairs,
        [
            (a3.clone(), Value::from(4)),
            (a2.clone(), Value::from(2)),
            (a1.clone(), Value::from(0)),
        ]
    );
    assert!(!text.contains(&b1) && !text.contains(&b2), "{text}");
    let (text, pairs) = list(b.clone()).await;
    assert_eq!(
        pairs,
        [(b2.clone(), Value::from(3)), (b1.clone(), Value::from(1))]
    );
    for id in [&a1, &a2, &a3] {
        assert!(!text.contains(id.as_str()), "{text}");
    }

    // A1 starts (a run under a live lease, as a worker's claim leaves it): it has no count,
    // and every job behind it moves up. Turn 1: A2, B1; turn 2: A3, B2.
    sqlx::query(
        "UPDATE import_jobs SET state = 'running', started_at = now(), attempts = 1,
                lease_owner = 'test', lease_expires_at = now() + interval '1 hour'
          WHERE id = $1::uuid",
    )
    .bind(&a1)
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(ahead(a.clone(), a1.clone()).await, Value::Null);
    assert_eq!(ahead(a.clone(), a2.clone()).await, 0);
    assert_eq!(ahead(b.clone(), b1.clone()).await, 1);
    assert_eq!(ahead(a.clone(), a3.clone()).await, 2);
    assert_eq!(ahead(b.clone(), b2.clone()).await, 3);

    // B1 is cancelled: ended, no count; B2 takes its turn. Turn 1: A2, B2; turn 2: A3.
    let cancelled = app.post(&b, &format!("/api/v1/jobs/{b1}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body["data"]["jobs_ahead"], Value::Null, "{body}");
    assert_eq!(ahead(b.clone(), b1.clone()).await, Value::Null);
    assert_eq!(ahead(b.clone(), b2.clone()).await, 1);
    assert_eq!(ahead(a.clone(), a3.clone()).await, 2);

    // A worker imports the rest: completed jobs have no count.
    let _worker = worker_process(&app.settings);
    for (key, id) in [(&a, &a2), (&a, &a3), (&b, &b2)] {
        let job = app.wait_for_job(key, id).await;
        assert_eq!(job["state"], "completed", "{job}");
        assert_eq!(job["jobs_ahead"], Value::Null, "{job}");
    }
    let (_, pairs) = list(a.clone()).await;
    assert!(pairs.iter().all(|(_, ahead)| ahead.is_null()), "{pairs:?}");
}
