use std::time::Duration;

use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::helpers::{opportunities_csv, spawn_app_with, worker_process};

/// A TCP proxy in front of Redis that the test can cut, to simulate Redis going away.
struct CuttableProxy {
    url: String,
    accept: JoinHandle<()>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let target = target
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(task);
            }
        });
        Self {
            url,
            accept,
            connections,
        }
    }

    fn cut(&self) {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_cannot_be_queued_fails_its_job_and_tells_the_client() {
    let proxy = CuttableProxy::start("127.0.0.1:6379").await;
    let redis_url = proxy.url.clone();
    let app = spawn_app_with(move |s| s.redis_url = redis_url, false).await;
    let key = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name\nA,B\n";
    assert_eq!(
        app.upload(&key, "opportunities", "", "a.csv", csv)
            .await
            .status(),
        202
    );

    proxy.cut();
    let ready = app.get_anonymous("/api/v1/readyz").await;
    assert_eq!(ready.status(), 503, "not ready without Redis");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["message"].as_str().unwrap().contains("Redis"),
        "{body}"
    );

    let response = app.upload(&key, "opportunities", "", "a.csv", csv).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert!(
        body["message"].as_str().unwrap().contains("queue"),
        "{body}"
    );

    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT state, error FROM import_jobs ORDER BY created_at DESC LIMIT 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(state, "failed", "never left dangling");
    assert!(error.unwrap().contains("could not be queued"));
    let uploads = std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 1, "only the first (queued) upload is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_worker_finish_the_job_it_holds() {
    let app = spawn_app_with(
        |s| {
            // Long enough that no orphan recovery can be what finishes the job.
            s.orphan_timeout_secs = 300;
            s.import_chunk_rows = 100;
            s.worker_concurrency = 1;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("T", 60_000);
    let mut worker = worker_process(&app.settings);
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    app.wait_until_midway(&key, &id).await;
    let pid = worker.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(60), worker.wait())
        .await
        .expect("the worker exits")
        .unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");

    // No worker runs any more: the job was finished by the one that got the signal.
    let body: Value = app
        .get(&key, &format!("/api/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["state"], "completed", "{body}");
    assert_eq!(body["data"]["total_imported_rows"], 60_000);
}
