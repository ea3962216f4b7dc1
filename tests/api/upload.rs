use serde_json::Value;

use crate::helpers::{Counts, assert_counts, csv_form, spawn_app};

const OPPS: &str = "Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Account Name\n\
334j0HHBF,\"Phone Install for Southern Railway, Phase 1\",80000,2017-02-15,Develop,Southern Railway\n\
334j0HHBG,Fiber Upgrade,\"$12,500.50\",2/15/2017,Qualify,Acme\n\
334j0HHBH,Support Renewal,,,Closed Won,\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_is_accepted_at_once_and_imports_every_row() {
    let app = spawn_app().await;
    let key = app.admin_key().await;

    let response = app
        .upload(&key, "opportunities", "", "opps.csv", OPPS)
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("{}/api/v1/jobs/{id}", app.address));
    assert_eq!(
        body["data"]["url"], location,
        "the body names the URL to poll too"
    );
    assert_eq!(body["data"]["kind"], "opportunities");
    assert!(["queued", "running", "completed"].contains(&body["data"]["state"].as_str().unwrap()));

    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(
        &job,
        Counts::new()
            .original(3)
            .imported(3)
            .errors(0)
            .no_error_file(),
    );
    assert_eq!(job["rows_processed"], 3);
    assert!(job["error"].is_null());
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());

    let list: Value = app
        .get(&key, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let first = &items[0];
    assert_eq!(first["external_opp_id"], "334j0HHBF");
    assert_eq!(first["name"], "Phone Install for Southern Railway, Phase 1");
    assert_eq!(first["amount"], 80000.0);
    assert_eq!(first["close_date"]["date"], "2017-02-15 00:00:00.000000");
    assert_eq!(first["stage"], "Develop");
    assert_eq!(first["stage_system"], "Develop");
    assert_eq!(first["account"], "Southern Railway");
    assert_eq!(first["active"], "1");
    assert_eq!(first["website"], "");
    for field in [
        "id",
        "external_account_id",
        "forecast",
        "forecast_system",
        "activity_index",
        "relationship_index",
        "type",
    ] {
        assert!(
            first.get(field).is_some(),
            "{field} is part of the documented shape"
        );
    }
    assert_eq!(items[1]["amount"], 12500.5);
    assert_eq!(items[1]["close_date"]["date"], "2017-02-15 00:00:00.000000");
    assert!(items[2]["amount"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reupload_updates_rows_and_only_the_columns_in_the_file() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app.import(&key, "opportunities", "", OPPS).await;
    assert_counts(&job, Counts::new().imported(3));

    // New name and stage for one row, a new row, and no Amount column at all.
    let update = "Opportunity ID,Opportunity Name,Stage\n334j0HHBF,Renamed,Closed Won\nNEW1,Brand new,Prospect\n";
    let job = app.import(&key, "opportunities", "", update).await;
    assert_eq!(job["state"], "completed");
    assert_counts(&job, Counts::new().imported(2));

    let list: Value = app
        .get(&key, "/api/v1/opportunities")
        .await
        .json()
        .await
        .unwrap();
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 4, "one new row, no duplicates: {list}");
    let renamed = items
        .iter()
        .find(|o| o["external_opp_id"] == "334j0HHBF")
        .unwrap();
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["stage"], "Closed Won");
    assert_eq!(
        renamed["amount"], 80000.0,
        "Amount was not in the file, so it is kept"
    );
    assert_eq!(renamed["account"], "Southern Railway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_true_answers_with_the_documented_counts() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = format!("{OPPS}BAD1,,12,2017-01-01,,\n");
    let response = app
        .upload(&key, "opportunities", "wait=true", "opps.csv", csv)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let data = &body["data"];
    assert_eq!(data["state"], "completed");
    assert_counts(data, Counts::new().original(4).imported(3).errors(1));
    assert!(
        data["error_file"]
            .as_str()
            .unwrap()
            .ends_with("/errors.csv")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_without_the_required_columns_fails_the_job_naming_them() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app
        .import(&key, "opportunities", "", "Name Of Thing,Amount\nx,1\n")
        .await;
    assert_eq!(job["state"], "failed");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("Opportunity ID") && error.contains("Opportunity Name"),
        "{error}"
    );
    assert_eq!(job["error_file"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_are_refused_with_413_and_nothing_is_kept() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    while csv.len() <= 20 * 1024 * 1024 {
        csv.push_str("ID-0000000000,An opportunity with a reasonably long name\n");
    }
    let response = app
        .upload(&key, "opportunities", "", "big.csv", csv.clone())
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert!(body["data"]["message"].as_str().unwrap().contains("20 MB"));

    // Streamed without a Content-Length, the limit is enforced while reading.
    let stream = futures_stream(csv.into_bytes());
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("big.csv");
    let response = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
    let leftovers = std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "no partial upload is left on disk");
}

fn futures_stream(bytes: Vec<u8>) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures::stream::iter(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uploads_get_a_clear_400() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let url = format!("{}/api/v1/opportunities/upload", app.address);

    let no_file = app
        .client
        .post(&url)
        .header("Authorization", &key)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_file.status(), 400);
    let body: Value = no_file.json().await.unwrap();
    assert!(body["data"]["message"].as_str().unwrap().contains("file"));

    let not_multipart = app
        .client
        .post(&url)
        .header("Authorization", &key)
        .body("a,b")
        .send()
        .await
        .unwrap();
    assert_eq!(not_multipart.status(), 400);

    let empty = app.upload(&key, "opportunities", "", "empty.csv", "").await;
    assert_eq!(empty.status(), 400);

    let bad_flag = app
        .client
        .post(format!("{url}?send_error_email=maybe"))
        .header("Authorization", &key)
        .multipart(csv_form("a.csv", OPPS))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_flag.status(), 400);
}
