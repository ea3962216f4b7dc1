//! `Idempotency-Key` on uploads: one job per key, tenant and 24 hours.

use batch_import::{db, db::jobs::NewJob, domain::JobKind, jobs::idempotency};
use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::helpers::{
    Counts, TestApp, assert_counts, csv_form, opportunities_csv, spawn_app, spawn_app_with,
};

/// Uploads `csv` as `kind` with an `Idempotency-Key` header.
async fn upload_with_key(
    app: &TestApp,
    key: &str,
    kind: &str,
    idempotency_key: &str,
    csv: &str,
) -> reqwest::Response {
    let value = HeaderValue::from_str(idempotency_key).unwrap();
    upload_with_raw_key(app, key, kind, value, csv).await
}

/// Uploads `csv` as `kind` with any `Idempotency-Key` header value.
async fn upload_with_raw_key(
    app: &TestApp,
    key: &str,
    kind: &str,
    idempotency_key: HeaderValue,
    csv: &str,
) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/{kind}/upload", app.address))
        .header("Authorization", key)
        .header("Idempotency-Key", idempotency_key)
        .multipart(csv_form("upload.csv", csv.to_owned()))
        .send()
        .await
        .unwrap()
}

/// Status, `Location` header and JSend body of a response.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, response.json().await.unwrap())
}

async fn job_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Files waiting in the upload directory (finished or partial).
fn stored_uploads(app: &TestApp) -> usize {
    std::fs::read_dir(app.storage.path().join("uploads"))
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_and_file_again_answers_with_the_first_queued_job() {
    // No worker: the first job stays queued, so the repeat must answer 202.
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("Q", 3);

    let first = upload_with_key(&app, &key, "opportunities", "order-42", &csv).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (status, location, body) = answer(first).await;
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();

    let again = upload_with_key(&app, &key, "opportunities", "order-42", &csv).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status2, location2, body2) = answer(again).await;
    assert_eq!(status2, 202, "{body2}");
    assert_eq!(body2["status"], "success");
    assert_eq!(body2["data"]["id"], id.as_str(), "the same job");
    assert_eq!(location2, location, "the same Location");
    assert_eq!(job_rows(&app).await, 1, "no second job row");
    assert_eq!(
        stored_uploads(&app),
        1,
        "the repeated upload's file was discarded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_after_the_job_finished_answers_200_and_imports_nothing_again() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("F", 5);

    let (status, _, body) =
        answer(upload_with_key(&app, &key, "opportunities", "F-1", &csv).await).await;
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(5));
    let imported_at: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT updated_at FROM opportunities ORDER BY external_opp_id")
            .fetch_all(&app.db)
            .await
            .unwrap();

    let (status2, _, body2) =
        answer(upload_with_key(&app, &key, "opportunities", "F-1", &csv).await).await;
    assert_eq!(status2, 200, "a finished job answers 200: {body2}");
    assert_eq!(body2["data"]["id"], id.as_str());
    assert_eq!(body2["data"]["state"], "completed");
    assert_eq!(job_rows(&app).await, 1);
    assert_eq!(app.stored_opportunities().await, 5);
    let after: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT updated_at FROM opportunities ORDER BY external_opp_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(after, imported_at, "no row was written a second time");
    assert_eq!(
        stored_uploads(&app),
        0,
        "nothing left in the upload directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_with_one_key_make_one_job() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("C", 50);
    let uploads: Vec<_> = (0..4)
        .map(|_| upload_with_key(&app, &key, "opportunities", "race", &csv))
        .collect();
    let mut ids = Vec::new();
    for response in futures::future::join_all(uploads).await {
        let (status, _, body) = answer(response).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "one job: {ids:?}");
    assert_eq!(job_rows(&app).await, 1);
    assert_eq!(stored_uploads(&app), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_another_file_or_kind_is_a_409() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("D", 2);
    let (status, _, _) =
        answer(upload_with_key(&app, &key, "opportunities", "k1", &csv).await).await;
    assert_eq!(status, 202);

    let other_file = opportunities_csv("E", 2);
    let (status, location, body) =
        answer(upload_with_key(&app, &key, "opportunities", "k1", &other_file).await).await;
    assert_eq!(status, 409, "{body}");
    assert!(location.is_none());
    assert_eq!(body["status"], "fail");
    let message = body["data"]["message"].as_str().unwrap();
    assert!(message.contains("another file"), "{message}");

    // The same bytes as another kind are another upload too.
    let (status, _, body) = answer(upload_with_key(&app, &key, "contacts", "k1", &csv).await).await;
    assert_eq!(status, 409, "{body}");

    assert_eq!(job_rows(&app).await, 1);
    assert_eq!(stored_uploads(&app), 1, "refused files are not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_per_tenant_and_uploads_without_a_key_are_never_merged() {
    let app = spawn_app_with(|_| {}, false).await;
    let acme = app.key("acme", "admin@acme.com", true).await;
    let globex = app.key("globex", "admin@globex.com", true).await;
    let csv = opportunities_csv("T", 2);

    let (_, _, a) = answer(upload_with_key(&app, &acme, "opportunities", "same", &csv).await).await;
    let (status, _, g) =
        answer(upload_with_key(&app, &globex, "opportunities", "same", &csv).await).await;
    assert_eq!(status, 202, "{g}");
    assert_ne!(
        a["data"]["id"], g["data"]["id"],
        "another tenant's key is its own"
    );

    let first = app
        .upload_job(&acme, "opportunities", "", csv.clone())
        .await;
    let second = app.upload_job(&acme, "opportunities", "", csv).await;
    assert_ne!(first, second, "without a key every upload is a job");
    assert_eq!(job_rows(&app).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_older_than_24_hours_makes_a_new_job() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("O", 2);
    let (_, _, first) =
        answer(upload_with_key(&app, &key, "opportunities", "old", &csv).await).await;
    let first_id: uuid::Uuid = first["data"]["id"].as_str().unwrap().parse().unwrap();
    sqlx::query("UPDATE import_jobs SET created_at = now() - interval '25 hours' WHERE id = $1")
        .bind(first_id)
        .execute(&app.db)
        .await
        .unwrap();

    // Even another file: the old binding is gone.
    let other = opportunities_csv("P", 3);
    let (status, _, second) =
        answer(upload_with_key(&app, &key, "opportunities", "old", &other).await).await;
    assert_eq!(status, 202, "{second}");
    assert_ne!(second["data"]["id"], first["data"]["id"]);
    let old_key: Option<String> =
        sqlx::query_scalar("SELECT idempotency_key FROM import_jobs WHERE id = $1")
            .bind(first_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(old_key, None, "the old job gave the key up");

    // And the new binding holds for 24 hours.
    let (status, _, third) =
        answer(upload_with_key(&app, &key, "opportunities", "old", &other).await).await;
    assert_eq!(status, 202);
    assert_eq!(third["data"]["id"], second["data"]["id"]);
    assert_eq!(job_rows(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_are_a_400_and_nothing_is_kept() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("M", 1);
    let too_long = "k".repeat(256);
    let bad = [
        HeaderValue::from_str(&too_long).unwrap(),
        HeaderValue::from_static("two words"),
        HeaderValue::from_static(""),
        HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
    ];
    for value in bad {
        let shown = format!("{value:?}");
        let (status, _, body) =
            answer(upload_with_raw_key(&app, &key, "opportunities", value, &csv).await).await;
        assert_eq!(status, 400, "{shown}: {body}");
        assert_eq!(body["status"], "fail");
        assert!(
            body["data"]["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{body}"
        );
    }
    let longest = "k".repeat(255);
    let (status, _, body) =
        answer(upload_with_key(&app, &key, "opportunities", &longest, &csv).await).await;
    assert_eq!(status, 202, "255 characters are fine: {body}");
    assert_eq!(job_rows(&app).await, 1);
    assert_eq!(stored_uploads(&app), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_job_row_with_a_taken_key_is_refused_by_the_unique_index() {
    // The race path relies on this: the loser's insert fails on this exact index.
    let app = spawn_app_with(|_| {}, false).await;
    app.key("acme", "admin@acme.com", true).await;
    let (tenant_id, user_id): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT tenant_id, id FROM users WHERE email = 'admin@acme.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let job = |hash: u8| NewJob {
        id: uuid::Uuid::new_v4(),
        tenant_id,
        user_id,
        kind: JobKind::Opportunities,
        file_name: "a.csv".into(),
        name: None,
        file_size: 1,
        column_mapping: None,
        sheet: None,
        send_error_email: false,
        dry_run: false,
        idempotency_key: Some("taken".into()),
        file_sha256: Some(vec![hash; 32]),
        parent_job_id: None,
        reverts_job_id: None,
    };
    db::jobs::insert(&app.db, &job(1), uuid::Uuid::new_v4())
        .await
        .unwrap();
    let error = db::jobs::insert(&app.db, &job(2), uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(idempotency::is_key_conflict(&error), "{error}");
    let found = db::jobs::find_by_idempotency_key(&app.db, tenant_id, "taken", 3600)
        .await
        .unwrap()
        .expect("the first job holds the key");
    assert_eq!(found.file_sha256, Some(vec![1; 32]));
}
