use serde_json::Value;

use crate::helpers::{Counts, TestApp, assert_counts, error_messages, spawn_app};

async fn contacts(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let body: Value = app
        .get(key, &format!("/api/v1/contacts{query}"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_upsert_by_email_and_link_to_the_tenants_opportunities() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    app.import(
        &key,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nGS-1,One\nGS-2,Two\n",
    )
    .await;

    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/google_sheets_contacts.csv"
    ))
    .unwrap();
    let job = app.import(&key, "contacts", "", csv).await;
    assert_eq!(job["kind"], "contacts");
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(6).imported(4).errors(2));
    let errors = app.error_csv(&key, &job).await;
    let messages = error_messages(&errors);
    assert!(
        messages[0].starts_with("unknown Opportunity ID \"NOPE-9\""),
        "{messages:?}"
    );
    assert_eq!(messages[1], "Email is empty");
    assert!(
        errors.starts_with("Email,First Name,Last Name,Opportunity ID,Title,Line,Error"),
        "{errors}"
    );

    let all = contacts(&app, &key, "").await;
    let emails: Vec<&str> = all.iter().map(|c| c["email"].as_str().unwrap()).collect();
    assert_eq!(
        emails,
        [
            "ann.lee@example.com",
            "bob@example.com",
            "carla@example.com"
        ]
    );
    let ann = &all[0];
    assert_eq!(
        ann["fullname"], "Ann Lee",
        "Fullname filled from First and Last Name"
    );
    assert_eq!(ann["title"], "CFO");
    assert_eq!(ann["opportunity_ids"], serde_json::json!(["GS-1"]));
    // BOB@ and bob@ are one contact with two links; the later row's blanks keep Bob's name.
    let bob = &all[1];
    assert_eq!(bob["opportunity_ids"], serde_json::json!(["GS-1", "GS-2"]));
    assert_eq!(bob["first_name"], "Bob");
    assert_eq!(bob["title"], "Buyer");
    assert_eq!(
        all[2]["opportunity_ids"],
        serde_json::json!([]),
        "no Opportunity ID: imported without a link"
    );

    // Uploading the same contact with another Opportunity ID adds a link.
    app.import(
        &key,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nGS-3,Three\n",
    )
    .await;
    let job = app
        .import(
            &key,
            "contacts",
            "",
            "Email,Opportunity ID\nann.lee@EXAMPLE.com,GS-3\n",
        )
        .await;
    assert_counts(&job, Counts::new().imported(1));
    let filtered = contacts(&app, &key, "?opportunity_id=GS-3").await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(
        filtered[0]["opportunity_ids"],
        serde_json::json!(["GS-1", "GS-3"])
    );
    assert_eq!(
        filtered[0]["fullname"], "Ann Lee",
        "columns absent from the file are kept"
    );
    assert_eq!(contacts(&app, &key, "?opportunity_id=GS-2").await.len(), 1);
    assert_eq!(
        contacts(&app, &key, "").await.len(),
        3,
        "upserted, not duplicated"
    );

    let page = app.get(&key, "/api/v1/contacts?limit=2").await;
    assert_eq!(page.headers()["x-total-count"], "3");
    assert!(
        page.headers()["link"]
            .to_str()
            .unwrap()
            .contains("limit=2&cursor=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_opportunity_id_is_unknown() {
    let app = spawn_app().await;
    let acme = app.admin_key().await;
    let globex = app.admin_key().await;
    app.import(
        &globex,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nG-1,Theirs\n",
    )
    .await;
    let job = app
        .import(
            &acme,
            "contacts",
            "",
            "Email,Opportunity ID\na@example.com,G-1\n",
        )
        .await;
    assert_counts(&job, Counts::new().errors(1).imported(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excel_unicode_text_utf16_tab_files_import() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/excel_unicode_text_contacts.txt"
    ))
    .unwrap();
    let job = app.import(&key, "contacts", "", file).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(2));
    let all = contacts(&app, &key, "").await;
    let zoe = all
        .iter()
        .find(|c| c["email"] == "zoe@example.com")
        .unwrap();
    assert_eq!(zoe["fullname"], "Zoë Łukasiewicz");
    assert_eq!(zoe["first_name"], "Zoë");
    assert_eq!(zoe["last_name"], "Łukasiewicz");
    assert_eq!(zoe["company_name"], "Żabka Sp. z o.o.");
    assert_eq!(zoe["mobile_phone"], "+48 600 000 000");
}
