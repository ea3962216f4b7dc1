use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_need_no_key() {
    let app = spawn_app().await;
    let alive = app
        .client
        .get(format!("{}/api/v1/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);
    let ready = app
        .client
        .get(format!("{}/api/v1/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["data"]["postgres"], "ok");
    assert_eq!(body["data"]["redis"], "ok");
    let unknown = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["status"], "fail");
}
