use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_need_no_key() {
    let app = spawn_app().await;
    let alive = app.get_anonymous("/api/v1/healthz").await;
    assert_eq!(alive.status(), 200);
    let ready = app.get_anonymous("/api/v1/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["data"]["postgres"], "ok");
    assert_eq!(body["data"]["redis"], "ok");
    let unknown = app.get_anonymous("/nope").await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["status"], "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_postgres_requests_get_a_jsend_503_after_the_short_acquire_timeout() {
    // A port nothing listens on: Postgres is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let smtp = crate::helpers::SmtpServer::start();
    let storage = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(&smtp, storage.path());
    settings.database_url = format!("postgres://postgres@127.0.0.1:{port}/nothing");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = batch_import::startup::ApiServer::with_listener(listener, settings, false)
        .await
        .expect("the API starts without Postgres");
    tokio::spawn(server.run(std::future::pending()));
    let client = reqwest::Client::new();
    for (path, key) in [("/api/v1/readyz", None), ("/api/v1/jobs", Some("some-key"))] {
        let started = std::time::Instant::now();
        let mut request = client.get(format!("{address}{path}"));
        if let Some(key) = key {
            request = request.header("Authorization", key);
        }
        let response = request.send().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "error", "{path}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        // The pool gives up after 2 s; the old 10 s wait must not come back.
        assert!(
            waited < std::time::Duration::from_secs(8),
            "{path} took {waited:?}"
        );
    }
}
