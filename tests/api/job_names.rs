//! Job names: given at upload (query parameter or multipart field), shown on the job and
//! matched exactly by `GET /api/v1/jobs?name=`.

use serde_json::Value;

use crate::helpers::{TestApp, csv_form, opportunities_csv, spawn_app_with};

impl TestApp {
    /// Uploads with `name` as a multipart field (after the file, as a form may send it).
    async fn upload_named_in_form(&self, key: &str, name: &str) -> reqwest::Response {
        let form = csv_form("deals.csv", opportunities_csv("F", 2)).text("name", name.to_owned());
        self.client
            .post(format!("{}/api/v1/opportunities/upload", self.address))
            .header("Authorization", key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/v1/jobs?{query}`: the listed jobs' names.
    async fn listed_names(&self, key: &str, query: &str) -> Vec<Value> {
        let response = self.get(key, &format!("/api/v1/jobs?{query}")).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["name"].clone())
            .collect()
    }
}

async fn fail_message(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    body["data"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_from_the_query_or_the_form_is_shown_and_filtered_on() {
    // No worker: names do not depend on the import.
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;

    let response = app
        .upload(
            &key,
            "opportunities",
            "name=%20Q3%20pipeline%20",
            "q3.csv",
            opportunities_csv("Q", 2),
        )
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["data"]["name"], "Q3 pipeline", "trimmed: {job}");
    let from_query = job["data"]["id"].as_str().unwrap().to_owned();

    let response = app.upload_named_in_form(&key, "Zürich — März").await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["data"]["name"], "Zürich — März");
    let from_form = job["data"]["id"].as_str().unwrap().to_owned();

    // A form field wins over the query parameter.
    let form = csv_form("x.csv", opportunities_csv("X", 1)).text("name", "from the form");
    let response = app
        .client
        .post(format!(
            "{}/api/v1/opportunities/upload?name=from+the+query",
            app.address
        ))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["data"]["name"], "from the form");

    let unnamed = app
        .upload_job(&key, "opportunities", "", opportunities_csv("N", 1))
        .await;

    let job: Value = app
        .get(&key, &format!("/api/v1/jobs/{from_query}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["data"]["name"], "Q3 pipeline");
    let job: Value = app
        .get(&key, &format!("/api/v1/jobs/{unnamed}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(job["data"]["name"].is_null(), "{job}");

    // The list shows every job's name (null when none), newest first.
    assert_eq!(
        app.listed_names(&key, "").await,
        vec![
            Value::Null,
            "from the form".into(),
            "Zürich — März".into(),
            "Q3 pipeline".into()
        ]
    );
    // `name=` matches exactly (after trimming): not a prefix, not another case.
    let listed: Value = app
        .get(
            &key,
            "/api/v1/jobs?name=Z%C3%BCrich%20%E2%80%94%20M%C3%A4rz",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], from_form.as_str());
    assert_eq!(
        app.listed_names(&key, "name=+Q3+pipeline+").await,
        vec![Value::from("Q3 pipeline")]
    );
    assert!(app.listed_names(&key, "name=Q3").await.is_empty());
    assert!(app.listed_names(&key, "name=q3+pipeline").await.is_empty());
    assert_eq!(
        app.listed_names(&key, "name=Q3+pipeline&state=queued&kind=opportunities")
            .await
            .len(),
        1
    );
    assert!(
        app.listed_names(&key, "name=Q3+pipeline&state=failed")
            .await
            .is_empty()
    );
    // Another tenant's jobs are not found by their name.
    let other = app.admin_key().await;
    assert!(
        app.listed_names(&other, "name=Q3+pipeline")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_too_long_or_with_control_characters_is_refused() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let longest = "n".repeat(200);
    let response = app
        .upload(
            &key,
            "opportunities",
            &format!("name={longest}"),
            "a.csv",
            opportunities_csv("A", 1),
        )
        .await;
    assert_eq!(response.status(), 202);

    let response = app
        .upload(
            &key,
            "opportunities",
            &format!("name={longest}n"),
            "a.csv",
            opportunities_csv("A", 1),
        )
        .await;
    let message = fail_message(response).await;
    assert_eq!(message, "name must be at most 200 characters, not 201");
    let message = fail_message(app.upload_named_in_form(&key, &"é".repeat(201)).await).await;
    assert!(message.contains("at most 200 characters"), "{message}");
    let message = fail_message(app.upload_named_in_form(&key, "two\nlines").await).await;
    assert!(message.contains("control characters"), "{message}");

    // Nothing was kept of the refused uploads.
    let listed: Value = app.get(&key, "/api/v1/jobs").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let uploads = std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 1, "only the accepted upload is stored");
}
