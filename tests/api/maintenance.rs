//! The maintenance switch: uploads are refused with 503 and nothing is stored; reads work.

use std::collections::HashMap;

use batch_import::config::Settings;
use reqwest::header;
use serde_json::Value;

use crate::helpers::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_maintenance_uploads_get_a_jsend_503_and_reads_keep_working() {
    let app = spawn_app_with(|s| s.maintenance = true, false).await;
    let key = app.admin_key().await;
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let response = app
            .upload(
                &key,
                kind,
                "",
                "x.csv",
                "Opportunity ID,Opportunity Name\nA,a\n",
            )
            .await;
        assert_eq!(response.status(), 503, "{kind}");
        assert!(
            response.headers().contains_key(header::RETRY_AFTER),
            "{kind}: Retry-After"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "error", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("maintenance") && message.contains("try again later"),
            "{message}"
        );
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "no job was created");
    let stored = std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(stored, 0, "no upload was stored");

    for path in [
        "/api/v1/jobs",
        "/api/v1/opportunities",
        "/api/v1/contacts",
        "/api/v1/sales_targets",
        "/api/v1/healthz",
    ] {
        assert_eq!(app.get(&key, path).await.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_uploads_are_accepted() {
    let app = spawn_app_with(|_| {}, false).await;
    assert!(!app.settings.maintenance, "maintenance is off by default");
    let key = app.admin_key().await;
    let response = app
        .upload(
            &key,
            "opportunities",
            "",
            "x.csv",
            "Opportunity ID,Opportunity Name\nA,a\n",
        )
        .await;
    assert_eq!(response.status(), 202);
}

/// `MAINTENANCE=1` and `MAINTENANCE=true` turn it on, read as `Settings::load` reads the
/// environment (an explicit source: the process environment is shared by parallel tests).
#[test]
fn maintenance_reads_1_and_true_from_the_environment() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for (value, expected) in [("1", true), ("true", true), ("0", false), ("false", false)] {
        let env = HashMap::from([("MAINTENANCE".to_owned(), value.to_owned())]);
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")))
            .add_source(
                config::Environment::default()
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(settings.maintenance, expected, "MAINTENANCE={value}");
    }
}
