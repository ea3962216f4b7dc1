use serde_json::Value;

use crate::helpers::{Counts, assert_counts, spawn_app};

const CSV: &str = "Opportunity ID,Opportunity Name\nA1,Alpha\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_key_get_401() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/opportunities", app.address);
    let missing = app.client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert!(body["data"]["message"].is_string());

    let unknown = app.get("bik_not-a-real-key", "/api/v1/opportunities").await;
    assert_eq!(unknown.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_keys_and_the_tenants_own_subdomain_are_accepted_others_are_not() {
    let app = spawn_app().await;
    let key = app.key("acme", "admin@acme.com", true).await;
    app.key("globex", "admin@globex.com", true).await;
    let url = format!("{}/api/v1/opportunities", app.address);

    let bearer = app
        .client
        .get(&url)
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let own = app
        .client
        .get(&url)
        .header("Authorization", &key)
        .header("Host", "acme.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let other = app
        .client
        .get(&url)
        .header("Authorization", &key)
        .header("Host", "globex.example.test:443")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_upload() {
    let app = spawn_app().await;
    let key = app.key("acme", "rep@acme.com", false).await;
    let response = app.upload(&key, "opportunities", "", "a.csv", CSV).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    // Reading is allowed.
    assert_eq!(app.get(&key, "/api/v1/opportunities").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_others_jobs_error_files_or_opportunities() {
    let app = spawn_app().await;
    let acme = app.key("acme", "admin@acme.com", true).await;
    let globex = app.key("globex", "admin@globex.com", true).await;
    let job = app
        .import(
            &acme,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA1,Alpha\nA2,\n",
        )
        .await;
    let id = job["id"].as_str().unwrap();
    assert_counts(&job, Counts::new().errors(1));

    assert_eq!(
        app.get(&globex, &format!("/api/v1/jobs/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&globex, &format!("/api/v1/jobs/{id}/errors.csv"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&acme, &format!("/api/v1/jobs/{id}/errors.csv"))
            .await
            .status(),
        200
    );
    let theirs: Value = app
        .get(&globex, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);

    // Both tenants can use the same external ID without touching each other.
    app.import(
        &globex,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nA1,Globex's\n",
    )
    .await;
    let ours: Value = app
        .get(&acme, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ours["data"][0]["name"], "Alpha");

    assert_eq!(
        app.get(&acme, "/api/v1/jobs/not-a-uuid").await.status(),
        404
    );
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && h.as_slice() != acme.as_bytes()),
        "keys are stored as hashes"
    );
}
