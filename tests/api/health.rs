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
