//! The sample files: served without a key, and each imports without a failed row.

use crate::helpers::{Counts, assert_counts, by_external_id, spawn_app};

#[tokio::test]
async fn each_sample_is_served_without_a_key_and_imports_every_row() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // Opportunities first: the contacts sample links to them.
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let response = app
            .get_anonymous(&format!("/api/v1/{kind}/sample.csv"))
            .await;
        assert_eq!(response.status(), 200, "{kind}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{headers:?}"
        );
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{kind}-sample.csv\"").as_str()
        );
        let csv = response.text().await.unwrap();
        let rows = csv.lines().count() - 1;
        assert!(rows >= 3, "{kind}: {csv}");
        let job = app.import(&key, kind, "", csv.clone()).await;
        assert_eq!(job["state"], "completed", "{kind}: {job}");
        assert_counts(
            &job,
            Counts::new()
                .original(rows as i64)
                .imported(rows as i64)
                .errors(0)
                .no_error_file(),
        );
        // Every supported column is in the sample, under its documented name.
        let header = csv.lines().next().unwrap();
        let documented = batch_import::import::fields_of(kind.parse().unwrap());
        for field in documented {
            assert!(
                header.split(',').any(|c| c == field.name),
                "{kind}: {} missing from {header}",
                field.name
            );
        }
    }
    let contacts = app.list(&key, "contacts").await;
    assert_eq!(contacts.len(), 3);
    let linked = contacts
        .iter()
        .find(|c| c["email"] == "jordan.lee@acme.example.com")
        .unwrap();
    assert_eq!(linked["opportunity_ids"], serde_json::json!(["OPP-1001"]));
    // The dashboard's upload form links every sample.
    let page = app.get_anonymous("/").await.text().await.unwrap();
    for kind in ["opportunities", "contacts", "sales_targets"] {
        assert!(
            page.contains(&format!("href=\"api/v1/{kind}/sample.csv\"")),
            "{kind}"
        );
    }
    let opportunities = app.list(&key, "opportunities").await;
    assert_eq!(
        by_external_id(&opportunities, "OPP-1001")["amount"],
        48000.0
    );
}
