//! `GET /api/v1/jobs/{id}/unprocessed.csv`: the rows a cancelled or failed job never got
//! to, byte for byte as uploaded, so that uploading them imports exactly the rest.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    Counts, TestApp, assert_counts, opportunities_csv, spawn_app, spawn_app_with,
};

const ROWS: usize = 30_000;

impl TestApp {
    /// `GET /jobs/{id}/unprocessed.csv`, asserting a 200 with a CSV attachment.
    async fn unprocessed(&self, key: &str, id: &str) -> Vec<u8> {
        let response = self
            .get(key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/csv");
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"unprocessed-{id}.csv\"").as_str()
        );
        response.bytes().await.unwrap().to_vec()
    }

    /// Asserts `GET /jobs/{id}/unprocessed.csv` is a JSend 404 whose message has `says`.
    async fn no_unprocessed(&self, key: &str, id: &str, says: &str) {
        let response = self
            .get(key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
            .await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "fail", "{body}");
        let message = body["data"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    /// Uploads `file`, cancels it once it has committed rows, and returns the ended job.
    async fn cancel_midway(&self, key: &str, file: Vec<u8>) -> Value {
        let id = self.upload_job(key, "opportunities", "", file).await;
        self.wait_until_midway(key, &id).await;
        let response = self.post(key, &format!("/api/v1/jobs/{id}/cancel")).await;
        assert_eq!(response.status(), 202);
        let job = self.wait_for_job(key, &id).await;
        assert_eq!(job["state"], "cancelled", "{job}");
        job
    }

    async fn distinct_opportunities(&self, prefix: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(DISTINCT external_opp_id) FROM opportunities
              WHERE external_opp_id LIKE $1 || '-%'",
        )
        .bind(prefix)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

/// A file of `ROWS` rows: `header`, then `row(i)` for each, as raw bytes.
fn file_of(header: &[u8], row: impl Fn(usize) -> Vec<u8>) -> (Vec<u8>, Vec<Vec<u8>>) {
    let rows: Vec<Vec<u8>> = (0..ROWS).map(row).collect();
    let mut file = header.to_vec();
    for row in &rows {
        file.extend_from_slice(row);
    }
    (file, rows)
}

/// Cancels the import of `file` midway and checks that unprocessed.csv is `header` and
/// exactly the rows after those read, byte for byte; uploading it completes the data.
async fn cancel_and_upload_the_rest(prefix: &str, header: &[u8], row: impl Fn(usize) -> Vec<u8>) {
    // Chunks small enough to catch the job midway, large enough to import the rest soon.
    let app = spawn_app_with(|s| s.import_chunk_rows = 20, true).await;
    let key = app.admin_key().await;
    let (file, rows) = file_of(header, row);
    let job = app.cancel_midway(&key, file).await;
    let read = job["total_original_rows"].as_i64().unwrap() as usize;
    assert!(read > 0 && read < ROWS, "{job}");
    // No row failed.
    assert_counts(&job, Counts::new().imported(read));
    assert!(
        job["unprocessed_file"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "/api/v1/jobs/{}/unprocessed.csv",
                job["id"].as_str().unwrap()
            )),
        "{job}"
    );

    let rest = app.unprocessed(&key, job["id"].as_str().unwrap()).await;
    let mut expected = header.to_vec();
    for row in &rows[read..] {
        expected.extend_from_slice(row);
    }
    assert!(
        rest == expected,
        "unprocessed.csv must be the header and rows {read}.. as uploaded; it starts {:?}",
        String::from_utf8_lossy(&rest[..rest.len().min(300)])
    );

    // Uploading the rest imports exactly the rows that were missing.
    let id = app.upload_job(&key, "opportunities", "", rest).await;
    let again = app
        .wait_for_job_within(&key, &id, Duration::from_secs(300))
        .await;
    assert_eq!(again["state"], "completed", "{again}");
    assert_counts(
        &again,
        Counts::new().original(ROWS - read).imported(ROWS - read),
    );
    assert_eq!(app.distinct_opportunities(prefix).await, ROWS as i64);
    assert_eq!(app.stored_opportunities().await, ROWS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_import_offers_exactly_the_rows_it_never_got_to() {
    let csv = opportunities_csv("U", ROWS);
    let mut lines = csv.split_inclusive('\n');
    let header = lines.next().unwrap().as_bytes().to_vec();
    let rows: Vec<Vec<u8>> = lines.map(|l| l.as_bytes().to_vec()).collect();
    cancel_and_upload_the_rest("U", &header, |i| rows[i].clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semicolon_windows_1252_file_is_cut_byte_for_byte() {
    // Excel's "CSV (semicolon)" in a German locale: Windows-1252, CRLF, decimal commas.
    cancel_and_upload_the_rest("W", b"Opportunity ID;Opportunity Name;Amount\r\n", |i| {
        let mut row = format!("W-{i};\"Gro").into_bytes();
        row.push(0xDF); // ß
        row.extend_from_slice(format!("auftrag M{i}\";1.234,50\r\n").as_bytes());
        row
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_file_with_a_bom_keeps_its_bom_and_its_bytes() {
    cancel_and_upload_the_rest(
        "B",
        "\u{feff}Opportunity ID,Opportunity Name\n".as_bytes(),
        |i| {
            // Every tenth row spans two lines inside quotes; blank lines are not rows.
            let name = if i % 10 == 0 {
                format!("\"Café\nline two {i}\"")
            } else {
                format!("Café {i}")
            };
            let blank = if i % 7 == 0 { "\n" } else { "" };
            format!("{blank}B-{i},{name}\n").into_bytes()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_failed_on_its_header_offers_the_whole_file() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let file = b"\xEF\xBB\xBFName;Phone\r\nAda;123\r\nGrace;456\r\n".to_vec();
    let id = app.upload_job(&key, "contacts", "", file.clone()).await;
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(app.unprocessed(&key, &id).await, file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_it_ran_offers_the_whole_file() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("Q", 5);
    let id = app.upload_job(&key, "opportunities", "", csv.clone()).await;
    app.no_unprocessed(&key, &id, "is still queued").await;
    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.unprocessed(&key, &id).await, csv.as_bytes());
}

/// A workbook is read only by a job's own run: one cancelled before it ran is not read
/// to cut its rows (a workbook that kills workers must not kill the one cancelling it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workbook_job_cancelled_before_it_ran_is_not_read_to_cut_its_rows() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "Opportunity ID").unwrap();
    sheet.write_string(0, 1, "Opportunity Name").unwrap();
    sheet.write_string(1, 0, "WB-1").unwrap();
    sheet.write_string(1, 1, "Deal").unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(workbook.save_to_buffer().unwrap()).file_name("deals.xlsx"),
    );
    let response = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    app.no_unprocessed(&key, &id, "upload the workbook again")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_and_another_tenants_job_answer_404() {
    let app = spawn_app().await;
    let key = app.key("acme", "admin@acme.com", true).await;
    let done = app
        .import(&key, "opportunities", "", opportunities_csv("D", 4))
        .await;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["unprocessed_file"], "");
    app.no_unprocessed(&key, done["id"].as_str().unwrap(), "completed")
        .await;

    let failed = app
        .import(&key, "contacts", "", "Name,Phone\nAda,123\n")
        .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let id = failed["id"].as_str().unwrap();
    let other = app.key("globex", "admin@globex.com", true).await;
    app.no_unprocessed(&other, id, "no job").await;
    let response = app
        .get_anonymous(&format!("/api/v1/jobs/{id}/unprocessed.csv"))
        .await;
    assert_eq!(response.status(), 401);
    // Like the error CSV, any key of the tenant may download it.
    let reader = app.key("acme", "rep@acme.com", false).await;
    assert_eq!(app.unprocessed(&reader, id).await, b"Name,Phone\nAda,123\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_failed_midway_after_its_retries_offers_the_rows_after_its_last_chunk() {
    // Chunks of 10 rows; a trigger makes Postgres refuse row F-55 with a serialization
    // failure (a passing error, so the job is retried), on every attempt.
    let app = spawn_app_with(
        |s| {
            s.import_chunk_rows = 10;
            s.job_max_attempts = 2;
        },
        true,
    )
    .await;
    let key = app.admin_key().await;
    for statement in [
        "CREATE FUNCTION refuse_f55() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refused for the test' USING ERRCODE = '40001'; END $$",
        "CREATE TRIGGER refuse_f55 BEFORE INSERT ON opportunities FOR EACH ROW
         WHEN (NEW.external_opp_id = 'F-55') EXECUTE FUNCTION refuse_f55()",
    ] {
        sqlx::query(statement).execute(&app.db).await.unwrap();
    }
    let csv = opportunities_csv("F", 100);
    let id = app.upload_job(&key, "opportunities", "", csv.clone()).await;
    let job = app
        .wait_for_job_within(&key, &id, Duration::from_secs(120))
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 2 attempts"),
        "{job}"
    );
    // Five chunks were committed by the last attempt; the sixth (rows 50–59) failed.
    assert_eq!(job["rows_processed"], 50, "{job}");
    let mut expected = String::from("Opportunity ID,Opportunity Name\n");
    for line in csv.lines().skip(1 + 50) {
        expected.push_str(line);
        expected.push('\n');
    }
    let rest = app.unprocessed(&key, &id).await;
    assert_eq!(String::from_utf8(rest.clone()).unwrap(), expected);

    sqlx::query("DROP TRIGGER refuse_f55 ON opportunities")
        .execute(&app.db)
        .await
        .unwrap();
    let again = app.import(&key, "opportunities", "", rest).await;
    assert_eq!(again["state"], "completed", "{again}");
    assert_counts(&again, Counts::new().imported(50));
    assert_eq!(app.distinct_opportunities("F").await, 100);
}
