//! `GET /jobs/{id}/events`: Server-Sent Events of a job's progress, ending with its
//! terminal state; the same key and tenant rules as `GET /jobs/{id}`.

use serde_json::Value;

use crate::helpers::{
    Counts, assert_counts, opportunities_csv, spawn_app, spawn_app_with, worker_process,
};

/// The `(event name, data)` pairs of an SSE body.
fn parse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).expect("JSON data")))
        })
        .collect()
}

fn rank(state: &str) -> u8 {
    match state {
        "queued" => 0,
        "running" => 1,
        _ => 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_a_job_in_order_and_end_with_its_terminal_state() {
    let app = spawn_app_with(|s| s.import_chunk_rows = 500, false).await;
    let key = app.admin_key().await;
    let rows = 30_000;
    let id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("E", rows))
        .await;
    // The stream is open before the worker starts: it sees the job queued, then running.
    let events = tokio::spawn({
        let request = app
            .client
            .get(format!("{}/api/v1/jobs/{id}/events", app.address))
            .header("Authorization", &key);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/event-stream")
            );
            response.text().await.unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _worker = worker_process(&app.settings);
    let body = tokio::time::timeout(std::time::Duration::from_secs(60), events)
        .await
        .expect("the stream ends once the job has")
        .unwrap();

    let events = parse_events(&body);
    assert!(events.len() >= 3, "queued, progress, completed: {body}");
    assert!(events.iter().all(|(name, _)| name == "job"), "{body}");
    let jobs: Vec<&Value> = events.iter().map(|(_, job)| job).collect();
    assert_eq!(jobs[0]["state"], "queued");
    for pair in jobs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            rank(a["state"].as_str().unwrap()) <= rank(b["state"].as_str().unwrap()),
            "states only move forward: {a} then {b}"
        );
        if a["state"] == b["state"] {
            assert!(
                a["rows_processed"].as_i64() <= b["rows_processed"].as_i64(),
                "progress only grows: {a} then {b}"
            );
        }
        assert_ne!(a, b, "an event is sent only for a change");
    }
    assert!(
        jobs.iter()
            .any(|job| job["state"] == "running" && job["rows_processed"].as_i64() > Some(0)),
        "progress of a running job is reported: {body}"
    );
    let last = jobs.last().unwrap();
    assert_eq!(last["state"], "completed", "{body}");
    assert_counts(last, Counts::new().imported(rows));
    assert_eq!(last["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_gets_one_event_and_other_tenants_get_404() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("F", 4))
        .await;
    app.wait_for_job(&key, &id).await;
    let body = app
        .get(&key, &format!("/api/v1/jobs/{id}/events"))
        .await
        .text()
        .await
        .unwrap();
    let events = parse_events(&body);
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0].1["state"], "completed");
    assert_counts(&events[0].1, Counts::new().imported(4));

    let stranger = app.admin_key().await;
    let response = app
        .get(&stranger, &format!("/api/v1/jobs/{id}/events"))
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    let response = app
        .client
        .get(format!("{}/api/v1/jobs/{id}/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a key is needed");
}
