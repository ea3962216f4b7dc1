use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::helpers::{
    Counts, assert_counts, opportunities_csv, sigterm, spawn_app_with, worker_process,
    worker_registered,
};

/// A TCP proxy in front of Redis that the test can cut and restore, to simulate Redis
/// going away and coming back on the same address.
struct CuttableProxy {
    url: String,
    refusing: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let target = target
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let refusing = Arc::new(AtomicBool::new(false));
        let (tracked, refuse) = (connections.clone(), refusing.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    continue; // Dropped at once, as by a server that is down.
                }
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
            refusing,
            connections,
            accept,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Lets connections through again.
    fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_taken_while_redis_is_down_and_imported_once_it_is_back() {
    let proxy = CuttableProxy::start("127.0.0.1:6379").await;
    let redis_url = proxy.url.clone();
    let app = spawn_app_with(move |s| s.redis_url = redis_url, false).await;
    let key = app.admin_key().await;
    let before = app
        .upload_job(&key, "opportunities", "", opportunities_csv("A", 5))
        .await;

    proxy.cut();
    let ready = app.get_anonymous("/api/v1/readyz").await;
    assert_eq!(ready.status(), 200, "Redis down is degraded, not unready");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["data"]["degraded"], true, "{body}");
    assert_eq!(body["data"]["accepting_uploads"], true, "{body}");
    assert!(
        body["data"]["redis"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{body}"
    );
    let during = app
        .upload_job(&key, "opportunities", "", opportunities_csv("B", 7))
        .await;

    proxy.restore();
    // The first upload after Redis is back goes through on a fresh connection.
    let after = app
        .upload_job(&key, "opportunities", "", opportunities_csv("C", 3))
        .await;
    let ready: Value = app
        .get_anonymous("/api/v1/readyz")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ready["data"]["degraded"], false, "{ready}");

    let _worker = worker_process(&app.settings);
    for (id, rows) in [(&before, 5), (&during, 7), (&after, 3)] {
        let job = app
            .wait_for_job_within(&key, id, Duration::from_secs(60))
            .await;
        assert_eq!(job["state"], "completed", "{job}");
        assert_counts(&job, Counts::new().imported(rows));
    }
    assert_eq!(app.stored_opportunities().await, 15, "each row once");
    let uploads = std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "every upload is removed once its job ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_worker_finish_the_job_it_holds() {
    let app = spawn_app_with(
        |s| {
            // No other worker runs, so no orphan recovery can be what finishes the job.
            // The default orphan timeout keeps the worker's apalis heartbeat at 5 s: a task
            // pushed while a worker has just started is sometimes found only on that
            // heartbeat (a known startup race; with 300 s the wait was 75 s and the test
            // timed out in CI).
            s.orphan_timeout_secs = 20;
            s.import_chunk_rows = 100;
            s.worker_concurrency = 1;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("T", 60_000);
    let mut worker = worker_process(&app.settings);
    // An upload racing the worker's registration waits for its heartbeat (see above).
    worker_registered(&app.settings).await;
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    app.wait_until_midway(&key, &id).await;
    sigterm(&worker);
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
    assert_counts(&body["data"], Counts::new().imported(60_000));
}
