use serde_json::{Value, json};

use crate::helpers::{Counts, assert_counts, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_targets_store_the_month_and_upsert_per_rep_and_month() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // Pipe-delimited, lone-CR line endings.
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mac_cr_sales_targets.txt"
    ))
    .unwrap();
    let job = app.import(&key, "sales_targets", "", file).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(5).imported(3).errors(2));
    let errors = app.error_csv(&key, &job).await;
    assert!(errors.contains("not a month"), "{errors}");
    assert!(errors.contains("Amount is empty"), "{errors}");
    assert!(
        errors.contains(",5,") && errors.contains(",6,"),
        "lines 5 and 6: {errors}"
    );

    let body: Value = app
        .get(&key, "/api/v1/sales_targets")
        .await
        .json()
        .await
        .unwrap();
    let targets: Vec<(String, String, f64)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["email"].as_str().unwrap().to_owned(),
                t["month"].as_str().unwrap().to_owned(),
                t["amount"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("rep1@example.com".into(), "2017-02".into(), 10000.0),
            ("REP2@example.com".into(), "2017-02".into(), 9000.0),
            ("rep1@example.com".into(), "2017-03".into(), 12000.5),
        ]
    );

    // Same rep (other case) and a date in the same month: an update, not a new target.
    let job = app
        .import(
            &key,
            "sales_targets",
            "",
            "Email Address of Salesrep,Month,Amount\nrep2@EXAMPLE.com,2/28/2017,9500\n",
        )
        .await;
    assert_counts(&job, Counts::new().imported(1));
    let body: Value = app
        .get(&key, "/api/v1/sales_targets?email=rep2@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["amount"], 9500.0);
    assert_eq!(body["data"][0]["month"], "2017-02");

    let march: Value = app
        .get(
            &key,
            "/api/v1/sales_targets?month_from=2017-03&month_to=2017-03-31",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(march["data"].as_array().unwrap().len(), 1);
    assert_eq!(march["data"][0]["month"], json!("2017-03"));
    assert_eq!(
        app.get(&key, "/api/v1/sales_targets?month_from=soon")
            .await
            .status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_three_sales_target_columns_are_required() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app
        .import(&key, "sales_targets", "", "Email,Amount\na@example.com,1\n")
        .await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("Month"), "{job}");
}
