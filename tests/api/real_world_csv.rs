//! Files as Excel, Salesforce, HubSpot and Google Sheets write them (fixtures in
//! tests/fixtures, modelled on the exports in tests/corpus).

use serde_json::Value;

use crate::helpers::{Counts, assert_counts, by_external_id, csv_form, error_messages, spawn_app};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn german_excel_semicolon_windows_1252_file_imports_intact() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app
        .import(
            &key,
            "opportunities",
            "",
            fixture("excel_de_opportunities.csv"),
        )
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(3).errors(1));
    let items = app.list(&key, "opportunities").await;
    let de1 = by_external_id(&items, "DE-1");
    assert_eq!(de1["name"], "Müller Telefonanlage");
    assert_eq!(de1["account"], "Müller GmbH");
    assert_eq!(de1["amount"], 80000.0);
    assert_eq!(de1["close_date"]["date"], "2017-02-15 00:00:00.000000");
    let de2 = by_external_id(&items, "DE-2");
    assert_eq!(de2["name"], "Café Zürich; Umbau");
    assert_eq!(de2["amount"], 80000.5);
    assert_eq!(
        de2["close_date"]["date"], "2017-04-03 00:00:00.000000",
        "day-first in a ;-file"
    );
    assert_eq!(by_external_id(&items, "DE-3")["account"], "Straße & Söhne");
    assert_eq!(by_external_id(&items, "DE-3")["amount"], 1234.5);

    // The error file is UTF-8 (with BOM), so the umlauts survive the round trip.
    let errors = app.error_csv(&key, &job).await;
    assert!(
        errors.contains("DE-4,Falscher Betrag,\"12,34,56\""),
        "{errors}"
    );
    assert_eq!(
        error_messages(&errors),
        ["Amount \"12,34,56\" is not a number"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_export_imports_with_a_column_mapping() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mapping =
        r#"{"NAME":"Opportunity Name","ORACLE_ID__C":"Opportunity ID","CLOSEDATE":"Close Date"}"#;
    let query = format!("mapping={}", urlencode(mapping));
    let job = app
        .import(
            &key,
            "opportunities",
            &query,
            fixture("salesforce_opportunities.csv"),
        )
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    // The error row is the row without an Oracle id.
    assert_counts(&job, Counts::new().imported(2).errors(1));
    let items = app.list(&key, "opportunities").await;
    let first = by_external_id(&items, "ORA-1001");
    assert_eq!(first["name"], "Phone Install for Southern Railway");
    assert_eq!(first["stage"], "Develop");
    assert_eq!(first["external_account_id"], "0015g00000XyZ01");
    assert_eq!(
        by_external_id(&items, "ORA-1002")["name"],
        "Fiber, Phase \"2\""
    );

    // Without the mapping the file has no Opportunity ID column: the job fails and says so.
    let job = app
        .import(
            &key,
            "opportunities",
            "",
            fixture("salesforce_opportunities.csv"),
        )
        .await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("Opportunity ID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_export_imports_with_a_mapping_in_the_form() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let form = csv_form("hubspot.csv", fixture("hubspot_deals.csv"))
        .text("mapping", r#"{"Record ID": "Opportunity ID"}"#);
    let response = app
        .client
        .post(format!(
            "{}/api/v1/opportunities/upload?wait=true",
            app.address
        ))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_counts(&body["data"], Counts::new().imported(2));
    let items = app.list(&key, "opportunities").await;
    let deal = by_external_id(&items, "9002");
    assert_eq!(deal["name"], "Annual Plan, Enterprise");
    assert_eq!(deal["amount"], 120000.0);
    assert_eq!(deal["stage"], "closedwon");
    assert_eq!(deal["close_date"]["date"], "2017-06-30 00:00:00.000000");
    assert_eq!(
        by_external_id(&items, "9001")["close_date"]["date"],
        "2017-02-15 00:00:00.000000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_to_an_unknown_field_is_a_400() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let query = format!("mapping={}", urlencode(r#"{"NAME":"Deal Colour"}"#));
    let response = app
        .upload(&key, "opportunities", &query, "a.csv", "NAME\nx\n")
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["data"]["message"].as_str().unwrap();
    assert!(
        message.contains("Deal Colour") && message.contains("Opportunity Name"),
        "{message}"
    );
    let bad_json = app
        .upload(&key, "opportunities", "mapping=nope", "a.csv", "NAME\nx\n")
        .await;
    assert_eq!(bad_json.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_and_dates_in_the_forms_people_type_them() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app
        .import(&key, "opportunities", "", fixture("amounts_and_dates.csv"))
        .await;
    assert_counts(&job, Counts::new().imported(6));
    let items = app.list(&key, "opportunities").await;
    let expect = [
        ("A1", 80000.0, "2017-02-15"),
        ("A2", 80000.5, "2017-02-15"),
        ("A3", 80000.0, "2017-02-15"),
        ("A4", 80000.0, "2017-02-15"),
        ("A5", -1200.0, "2017-02-15"),
        ("A6", 1.0, "2017-02-03"),
    ];
    for (id, amount, date) in expect {
        let item = by_external_id(&items, id);
        assert_eq!(item["amount"], amount, "{id}");
        assert_eq!(
            item["close_date"]["date"],
            format!("{date} 00:00:00.000000"),
            "{id}"
        );
    }
    let errors = app.error_csv(&key, &job).await;
    assert!(errors.contains("\"12abc\""), "{errors}");
    assert!(errors.contains("\"2017-13-45\""), "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_and_broken_headers_fail_with_a_reason() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let cases: [(&[u8], &str); 4] = [
        (b"Opportunity ID,Opportunity Name\nA,\x00\x01\x02\n", "NUL"),
        (b"\x00\x00\xfe\xffsomething", "UTF-32"),
        (b"Opportunity ID,Opportunity Name,Name\nA,B,C\n", "Name"),
        (b"Opportunity ID,,Opportunity Name\nA,x,B\n", "column 2"),
    ];
    for (bytes, expected) in cases {
        let job = app.import(&key, "opportunities", "", bytes.to_vec()).await;
        assert_eq!(job["state"], "failed", "{job}");
        let error = job["error"].as_str().unwrap();
        assert!(error.contains(expected), "{expected:?} in {error:?}");
    }
    assert!(
        app.list(&key, "opportunities").await.is_empty(),
        "never garbage rows"
    );
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_opportunity_export_from_the_corpus_imports_whole() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/salesforce-data-cloud-workshop/Opportunity.csv"
    ))
    .expect("tests/corpus holds the Data Cloud export");
    let query = format!("mapping={}", urlencode(r#"{"Id":"Opportunity ID"}"#));
    let job = app.import(&key, "opportunities", &query, file).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(50).imported(50));
    let items = app.list(&key, "opportunities").await;
    let first = by_external_id(&items, "006Ec00000AieKFIAZ");
    assert_eq!(
        first["name"],
        "Patterson-Hansen - Merchant Services - November 2024"
    );
    assert_eq!(first["amount"], 1124741.15);
    assert_eq!(first["close_date"]["date"], "2024-11-10 00:00:00.000000");
    assert_eq!(first["stage"], "Qualification");
    assert_eq!(first["external_account_id"], "001Ec00000GGw3iIAD");
}
