//! `STORAGE_URL=s3://bucket/prefix`: the same API and worker with uploads, error CSVs and
//! unprocessed rows in a bucket of a real S3-compatible server (moto), looked into with
//! plain S3 calls. Nothing may stay in the bucket that the file backend would not keep.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{
    Counts, MotoServer, TestApp, assert_counts, opportunities_csv, spawn_app_with,
};

const PREFIX: &str = "bi";

/// An API and worker storing in `moto` under [`PREFIX`].
async fn s3_app(
    moto: &MotoServer,
    customise: impl FnOnce(&mut batch_import::config::Settings),
    with_worker: bool,
) -> TestApp {
    let url = moto.storage_url(PREFIX);
    spawn_app_with(
        |s| {
            s.storage_url = Some(url);
            customise(s);
        },
        with_worker,
    )
    .await
}

/// Waits (at most 15 s) until no object is left under `prefix`.
async fn until_no_object(moto: &MotoServer, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let keys = moto.keys(prefix).await;
        if keys.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "objects left under {prefix}: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The files in `dir` and below (the local storage directory must hold no job file).
fn local_files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(local_files(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

const MIXED: &str = "Opportunity ID,Opportunity Name,Amount\n\
S3-1,Good one,100\n\
S3-BAD,Bad amount,12abc\n\
S3-2,Another good one,\"1,000\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_an_import_reads_its_upload_from_the_bucket_and_keeps_its_error_csv_there() {
    let moto = MotoServer::start().await;
    let app = s3_app(&moto, |_| {}, true).await;
    let key = app.key("s3co", "boss@s3co.example.com", true).await;

    let job = app
        .import(&key, "opportunities", "send_error_email=true", MIXED)
        .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(2).errors(1));
    assert_eq!(app.stored_opportunities().await, 2);
    let id = job["id"].as_str().unwrap();

    // The download is the object, which holds the failed row with its line and reason.
    let downloaded = app.error_csv(&key, &job).await;
    let object = moto
        .object(&format!("{PREFIX}/errors/{id}.csv"))
        .await
        .expect("the error CSV is in the bucket");
    let object = String::from_utf8(object).unwrap();
    assert_eq!(downloaded, object.trim_start_matches('\u{feff}'));
    let mut reader = csv::Reader::from_reader(object.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{object}");
    assert_eq!((&rows[0][0], &rows[0][3]), ("S3-BAD", "3"));
    assert!(rows[0][4].contains("12abc"), "{object}");

    // The email's attachment was read from the bucket too.
    let messages = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let parsed = messages[0].parsed();
    let attachment = parsed
        .attachments()
        .next()
        .expect("the error CSV is attached");
    assert!(String::from_utf8_lossy(attachment.contents()).contains("S3-BAD"));

    // The upload goes when the job ends; nothing of the job is on the local disk.
    until_no_object(&moto, &format!("{PREFIX}/uploads/")).await;
    assert_eq!(
        moto.keys(PREFIX).await,
        [format!("{PREFIX}/errors/{id}.csv")],
        "only the error CSV stays"
    );
    assert!(
        local_files(app.storage.path()).is_empty(),
        "spool files are removed after the run: {:?}",
        local_files(app.storage.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_an_upload_over_the_limit_leaves_no_object_and_no_multipart_upload() {
    let moto = MotoServer::start().await;
    let app = s3_app(&moto, |_| {}, false).await;
    let key = app.admin_key().await;
    // The listing of unfinished uploads sees one (else the check below proves nothing).
    let mut unfinished = moto.begin_upload("elsewhere/unfinished.csv").await;
    assert_eq!(
        moto.incomplete_uploads().await,
        ["elsewhere/unfinished.csv"]
    );
    unfinished.abort().await.unwrap();
    assert!(moto.incomplete_uploads().await.is_empty());

    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    while csv.len() <= 21 * 1024 * 1024 {
        csv.push_str("ID-0000000000,An opportunity with a reasonably long name\n");
    }
    // Streamed without a Content-Length, so the limit is met while parts are uploaded.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .file_name("big.csv");
    let response = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    assert_eq!(moto.keys("").await, Vec::<String>::new(), "no object");
    assert_eq!(
        moto.incomplete_uploads().await,
        Vec::<String>::new(),
        "the multipart upload was aborted, its parts are gone"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0);

    // A file larger than one part (5 MiB) within the limit is stored whole.
    let big = opportunities_csv("BIG", 250_000);
    assert!(big.len() > 6 * 1024 * 1024, "{}", big.len());
    let id = app.upload_job(&key, "opportunities", "", big.clone()).await;
    let stored = moto
        .object(&format!("{PREFIX}/uploads/{id}.csv"))
        .await
        .expect("the upload is in the bucket");
    assert!(stored == big.as_bytes(), "the object is the uploaded file");
    assert!(moto.incomplete_uploads().await.is_empty());
}

/// `GET /jobs/{id}/unprocessed.csv` (asserting 200).
async fn unprocessed(app: &TestApp, key: &str, id: &str) -> Vec<u8> {
    let response = app
        .get(key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
        .await;
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_cancelled_job_offers_its_unprocessed_rows_from_the_bucket() {
    let moto = MotoServer::start().await;
    let app = s3_app(&moto, |s| s.import_chunk_rows = 20, true).await;
    let key = app.admin_key().await;
    let rows = 30_000;
    let file = opportunities_csv("S3U", rows);
    let id = app
        .upload_job(&key, "opportunities", "", file.clone())
        .await;
    app.wait_until_midway(&key, &id).await;
    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 202);
    let job: Value = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    let read = job["total_original_rows"].as_i64().unwrap() as usize;
    assert!(read > 0 && read < rows, "{job}");

    let rest = unprocessed(&app, &key, &id).await;
    let mut lines = file.split_inclusive('\n');
    let mut expected = lines.next().unwrap().to_owned();
    expected.extend(lines.skip(read));
    assert!(
        rest == expected.as_bytes(),
        "the header and rows {read}.. as uploaded; it starts {:?}",
        String::from_utf8_lossy(&rest[..rest.len().min(200)])
    );
    let object = moto
        .object(&format!("{PREFIX}/errors/{id}.unprocessed.csv"))
        .await
        .expect("kept in the bucket");
    assert!(object == rest);
    until_no_object(&moto, &format!("{PREFIX}/uploads/")).await;
    assert!(local_files(app.storage.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_job_cancelled_while_queued_offers_the_whole_file_cut_by_the_api() {
    let moto = MotoServer::start().await;
    // No worker: the API cuts the rows from the upload in the bucket itself.
    let app = s3_app(&moto, |_| {}, false).await;
    let key = app.admin_key().await;
    let file = opportunities_csv("S3Q", 50);
    let id = app
        .upload_job(&key, "opportunities", "", file.clone())
        .await;
    let response = app.post(&key, &format!("/api/v1/jobs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    let rest = unprocessed(&app, &key, &id).await;
    assert!(rest == file.as_bytes());
    assert!(
        moto.object(&format!("{PREFIX}/errors/{id}.unprocessed.csv"))
            .await
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_the_reconciler_removes_uploads_nobody_will_import() {
    let moto = MotoServer::start().await;
    let app = s3_app(&moto, |s| s.stale_upload_secs = 0, true).await;
    let key = app.admin_key().await;
    // An upload whose API died before it recorded the job.
    let orphan = format!("{PREFIX}/uploads/{}.csv", uuid::Uuid::new_v4());
    moto.put(&orphan, b"Opportunity ID\nX-1\n").await;
    // An error file stays with its job: the sweep never touches errors/.
    let kept = format!("{PREFIX}/errors/{}.csv", uuid::Uuid::new_v4());
    moto.put(&kept, b"x").await;
    until_no_object(&moto, &format!("{PREFIX}/uploads/")).await;
    assert!(moto.object(&kept).await.is_some());
    // And the service still imports.
    let job = app
        .import(&key, "opportunities", "", opportunities_csv("S3R", 5))
        .await;
    assert_eq!(job["state"], "completed", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_an_upload_the_client_breaks_off_leaves_no_multipart_upload() {
    let moto = MotoServer::start().await;
    let app = s3_app(&moto, |_| {}, false).await;
    let key = app.admin_key().await;
    // 8 MiB (more than one part is uploaded), then the client's body fails mid-file.
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"Opportunity ID,Opportunity Name\n".to_vec())];
    for _ in 0..128 {
        chunks.push(Ok(b"ID-1,A name\n".repeat(64 * 1024 / 12)));
    }
    chunks.push(Err(std::io::Error::other("the client gave up")));
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .file_name("broken.csv");
    let sent = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await;
    assert!(sent.is_err(), "the request cannot complete: {sent:?}");

    // Aborted by the request's error path or, if the request was dropped, in the background.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let unfinished = moto.incomplete_uploads().await;
        if unfinished.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "unfinished uploads stay: {unfinished:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moto.keys("").await.is_empty(), "no object");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}
