//! A `batch-import work` process with `WORKER_HEALTH_ADDR`: its probes answer while its
//! queue loop runs and go away when it exits; SIGTERM waits for running jobs at most
//! `WORKER_SHUTDOWN_TIMEOUT_SECS`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    Counts, assert_counts, opportunities_csv, sigterm, spawn_app_with, worker_process,
};

/// A free loopback address for a worker's health listener.
fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET http://{addr}{path}`: the status and JSON body (`null` when not JSON), or `None`
/// while nothing listens.
async fn probe(addr: std::net::SocketAddr, path: &str) -> Option<(u16, Value)> {
    let response = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// Polls `path` until it answers 200; returns the body.
async fn until_ok(addr: std::net::SocketAddr, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = probe(addr, path).await;
        if let Some((200, body)) = answer {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered 200: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `batch-import probe URL` exits 0.
async fn probe_command(url: &str) -> bool {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .args(["probe", url])
        .output()
        .await
        .unwrap()
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_answers_its_probes_while_its_loop_runs_and_stops_answering_when_it_exits() {
    // A heartbeat every second (orphan timeout / 4), stale after 4 s without one.
    let addr = free_addr();
    let app = spawn_app_with(
        |s| {
            s.orphan_timeout_secs = 4;
            s.worker_health_addr = Some(addr);
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let mut worker = worker_process(&app.settings);

    let ready = until_ok(addr, "/readyz").await;
    assert_eq!(ready["status"], "success", "{ready}");
    assert_eq!(ready["data"]["phase"], "running", "{ready}");
    assert_eq!(ready["data"]["postgres"], "ok", "{ready}");
    assert_eq!(ready["data"]["redis"], "ok", "{ready}");
    let job = app
        .import(&key, "opportunities", "", opportunities_csv("H", 10))
        .await;
    assert_eq!(job["state"], "completed", "the worker works: {job}");

    // Idle for longer than the stale limit: only heartbeats keep it alive.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, alive) = probe(addr, "/healthz").await.expect("it still listens");
    assert_eq!(status, 200, "{alive}");
    assert_eq!(alive["data"]["alive"], true, "{alive}");
    assert_eq!(alive["data"]["phase"], "running", "{alive}");
    let since = alive["data"]["seconds_since_heartbeat"].as_f64().unwrap();
    assert!(since < 2.5, "heartbeats arrive about every second: {alive}");
    assert!(probe(addr, "/nope").await.is_some_and(|(s, _)| s == 404));
    // `batch-import probe`, the compose health check, agrees.
    assert!(probe_command(&format!("http://{addr}/healthz")).await);
    assert!(!probe_command(&format!("http://{addr}/nope")).await);

    sigterm(&worker);
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        probe(addr, "/healthz").await.is_none(),
        "nothing answers once the worker is gone"
    );
    assert!(!probe_command(&format!("http://{addr}/healthz")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_a_running_job_at_most_the_shutdown_timeout() {
    let app = spawn_app_with(
        |s| {
            s.orphan_timeout_secs = 3;
            s.import_chunk_rows = 100;
            s.worker_concurrency = 1;
            s.worker_shutdown_timeout_secs = 1;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let mut worker = worker_process(&app.settings);
    let id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("S", 60_000))
        .await;
    app.wait_until_midway(&key, &id).await;
    let signalled = Instant::now();
    sigterm(&worker);
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker exits")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "the bounded stop exits 0: {status:?}");
    assert!(
        took < Duration::from_secs(5),
        "it gave up waiting after about 1 s, not after the job: {took:?}"
    );
    let body: Value = app
        .get(&key, &format!("/api/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["state"], "running",
        "the job was cut short: {body}"
    );

    // Its lease lapses and another worker runs it to the end.
    let _next = worker_process(&app.settings);
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(90))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(60_000));
}
