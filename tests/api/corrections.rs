//! Corrections of failed rows: `POST /api/v1/jobs/{id}/corrections` makes a new job of the
//! corrected rows, imported by the same engine; the CLI's `fix` sends an edited error CSV.
//! The 20 MB file is corrected through the API and the CLI here, through the dashboard in
//! `dashboard.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Counts, TestApp, assert_counts, spawn_app, spawn_app_with};

/// Five rows; lines 3, 4 and 6 fail (an amount, a date, a missing name).
const WITH_THREE_BAD_ROWS: &str = "Opportunity ID,Opportunity Name,Amount,Close Date\n\
    C-1,First,100,2026-01-15\n\
    C-2,Second,12abc,2026-01-15\n\
    C-3,Third,300,2026-02-30\n\
    C-4,Fourth,400,2026-01-15\n\
    C-5,,500,2026-01-15\n";

impl TestApp {
    /// `POST /api/v1/jobs/{id}/corrections` with a JSON body.
    pub async fn correct(&self, key: &str, id: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/jobs/{id}/corrections", self.address))
            .header("Authorization", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a correction (asserting 202 and its `Location`) and waits for its job.
    pub async fn corrected(&self, key: &str, id: &str, body: &Value) -> Value {
        let child = self.accepted_job(self.correct(key, id, body).await).await;
        assert_eq!(child["parent_job_id"], id, "{child}");
        self.wait_for_job(key, child["id"].as_str().unwrap()).await
    }

    /// The job's stored failed rows (first page).
    pub async fn failed_rows(&self, key: &str, id: &str) -> Vec<Value> {
        let body: Value = self
            .get(key, &format!("/api/v1/jobs/{id}/errors"))
            .await
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// `(rows, distinct external ids)` of the opportunities table.
    pub async fn opportunity_rows(&self) -> (i64, i64) {
        sqlx::query_as("SELECT count(*), count(DISTINCT external_opp_id) FROM opportunities")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

fn lines(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["line"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_correction_imports_the_fixed_rows_as_a_child_of_the_job() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let parent = app
        .import(&key, "opportunities", "", WITH_THREE_BAD_ROWS)
        .await;
    assert_counts(&parent, Counts::new().original(5).imported(2).errors(3));
    let parent_id = parent["id"].as_str().unwrap();
    assert_eq!(parent["parent_job_id"], Value::Null);
    assert_eq!(parent["corrections"], json!([]));
    assert_eq!(lines(&app.failed_rows(&key, parent_id).await), [3, 4, 6]);

    let child = app
        .corrected(
            &key,
            parent_id,
            &json!({"rows": [
                {"line": 3, "values": {"Amount": "80000"}},
                {"line": 4, "values": {"Close Date": "2026-02-28"}},
                {"line": 6, "values": {"Opportunity Name": "Fifth"}},
            ]}),
        )
        .await;
    assert_counts(
        &child,
        Counts::new()
            .original(3)
            .imported(3)
            .errors(0)
            .created(3)
            .updated(0)
            .unchanged(0),
    );
    assert_eq!(child["kind"], "opportunities");
    assert_eq!(child["parent_job_id"], parent_id);
    assert_eq!(child["error_file"], "");

    // The parent lists its correction, in GET /jobs/{id} and in the list.
    let parent: Value = app
        .get(&key, &format!("/api/v1/jobs/{parent_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        parent["data"]["corrections"],
        json!([{"id": child["id"], "url": child["url"]}])
    );
    let listed = app.list(&key, "jobs").await;
    let listed_parent = listed.iter().find(|j| j["id"] == parent_id).unwrap();
    assert_eq!(listed_parent["corrections"][0]["id"], child["id"]);

    // Every row of the file is stored once, with the corrected values.
    assert_eq!(app.opportunity_rows().await, (5, 5));
    let (amount, close, name): (String, String, String) = sqlx::query_as(
        "SELECT (SELECT amount::text FROM opportunities WHERE external_opp_id = 'C-2'),
                (SELECT close_date::text FROM opportunities WHERE external_opp_id = 'C-3'),
                (SELECT name FROM opportunities WHERE external_opp_id = 'C-5')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (amount.as_str(), close.as_str(), name.as_str()),
        ("80000", "2026-02-28", "Fifth")
    );
}

#[tokio::test]
async fn a_correction_that_still_fails_keeps_the_lines_and_is_corrected_again() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let parent = app
        .import(
            &key,
            "opportunities",
            "send_error_email=true",
            WITH_THREE_BAD_ROWS,
        )
        .await;
    let parent_id = parent["id"].as_str().unwrap();
    app.smtp.wait_for(1, Duration::from_secs(10)).await;

    // Line 3 fixed, line 4 still a date that does not exist, line 6 not sent.
    let child = app
        .corrected(
            &key,
            parent_id,
            &json!({"rows": [
                {"line": 3, "values": {"Amount": "80000"}},
                {"line": 4, "values": {"Close Date": "2026-02-31"}},
            ]}),
        )
        .await;
    assert_counts(&child, Counts::new().original(2).imported(1).errors(1));
    let child_id = child["id"].as_str().unwrap();
    // The failed row keeps the line it has in the file the user uploaded.
    let failed = app.failed_rows(&key, child_id).await;
    assert_eq!(lines(&failed), [4]);
    assert_eq!(failed[0]["values"]["Opportunity ID"], "C-3");
    assert_eq!(failed[0]["values"]["Close Date"], "2026-02-31");
    assert_eq!(failed[0]["problems"][0]["code"], "date_not_in_calendar");
    // Its error CSV says the same line.
    let error_csv = app.error_csv(&key, &child).await;
    assert!(
        error_csv.contains("C-3,Third,300,2026-02-31,4,"),
        "{error_csv}"
    );

    // The correction is a job like any other: its failed rows are emailed (it kept the
    // parent's send_error_email), and it is named after the parent.
    let messages = app.smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 2);
    let mail = messages[1].parsed();
    assert!(
        mail.body_text(0).unwrap().contains(child_id),
        "the second email is the correction's"
    );
    assert_eq!(messages[1].to, ["boss@acme.com"]);

    // A correction of the correction, by the line it shows.
    let grandchild = app
        .corrected(
            &key,
            child_id,
            &json!({"rows": [{"line": 4, "values": {"Close Date": "2026-02-28"}}]}),
        )
        .await;
    assert_counts(&grandchild, Counts::new().original(1).imported(1).errors(0));
    assert_eq!(grandchild["parent_job_id"], child_id);
    // Line 6 of the first job is still to correct there.
    let last = app
        .corrected(
            &key,
            parent_id,
            &json!({"rows": [{"line": 6, "values": {"Opportunity Name": "Fifth"}}]}),
        )
        .await;
    assert_counts(&last, Counts::new().original(1).imported(1).errors(0));
    let parent: Value = app
        .get(&key, &format!("/api/v1/jobs/{parent_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        parent["data"]["corrections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>(),
        [child["id"].clone(), last["id"].clone()]
    );
    assert_eq!(app.opportunity_rows().await, (5, 5));
}

async fn fail_message(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    body["data"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn corrections_are_refused_with_a_reason_and_nothing_is_kept() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let member = app.key("acme", "rep@acme.com", false).await;
    let stranger = app.key("globex", "boss@globex.com", true).await;
    let parent = app
        .import(&key, "opportunities", "", WITH_THREE_BAD_ROWS)
        .await;
    let id = parent["id"].as_str().unwrap();
    let one = json!({"rows": [{"line": 3, "values": {"Amount": "1"}}]});

    let message = fail_message(app.correct(&member, id, &one).await, 403).await;
    assert!(message.contains("administrator"), "{message}");
    fail_message(app.correct(&stranger, id, &one).await, 404).await;

    let refused = [
        (json!({"rows": []}), "at least one"),
        (
            json!({"rows": [{"line": 2, "values": {"Amount": "1"}}]}),
            "line 2 is not a failed row",
        ),
        (
            json!({"rows": [{"line": 3}, {"line": 3}]}),
            "line 3 is given twice",
        ),
        (
            json!({"rows": [{"line": 3, "values": {"Amonut": "1"}}]}),
            "\"Amonut\" is not a column of the file",
        ),
        (
            json!({"rows": [{"line": 3, "values": {"Amount": "1\u{0}"}}]}),
            "NUL",
        ),
        (
            json!({"rows": [{"line": 3, "values": {"Amount": "9".repeat(131_073)}}]}),
            "at most 131072 bytes",
        ),
        (json!({"rows": [{"line": 3, "extra": 1}]}), "unknown field"),
        (
            json!({"rows": (0..10_001).map(|l| json!({"line": l})).collect::<Vec<_>>()}),
            "at most 10000 corrected rows",
        ),
    ];
    for (body, expected) in refused {
        let message = fail_message(app.correct(&key, id, &body).await, 400).await;
        assert!(message.contains(expected), "{expected:?} in {message:?}");
    }

    // Over 2 MB: 413, declared or not (the undeclared one only a little over, so that
    // it is all sent before the answer comes).
    let big = json!({"rows": (0..20).map(|l| json!({"line": l, "values": {"Amount": "9".repeat(120_000)}})).collect::<Vec<_>>()});
    let message = fail_message(app.correct(&key, id, &big).await, 413).await;
    assert!(message.contains("2097152 byte limit"), "{message}");
    let chunked = app
        .client
        .post(format!("{}/api/v1/jobs/{id}/corrections", app.address))
        .header("Authorization", &key)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            (0..21).map(|_| Ok::<_, std::io::Error>(vec![b' '; 100_000])),
        )))
        .send()
        .await
        .unwrap();
    fail_message(chunked, 413).await;
    let not_json = app
        .client
        .post(format!("{}/api/v1/jobs/{id}/corrections", app.address))
        .header("Authorization", &key)
        .body("rows")
        .send()
        .await
        .unwrap();
    fail_message(not_json, 415).await;

    // None of it made a job or left a file.
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 1);
    let uploads = std::fs::read_dir(app.storage.path().join("uploads"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(uploads, 0);
}

#[tokio::test]
async fn a_job_takes_at_most_100_corrections_and_lists_them_all() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let parent = app
        .import(&key, "opportunities", "", WITH_THREE_BAD_ROWS)
        .await;
    let id = parent["id"].as_str().unwrap();
    // 99 corrections made long ago (ended: no worker takes them), then the 100th for real.
    sqlx::query(
        "INSERT INTO import_jobs (id, tenant_id, user_id, kind, file_name, file_size, state,
                                  finished_at, parent_job_id, created_at)
         SELECT gen_random_uuid(), tenant_id, user_id, kind, file_name, 1, 'cancelled',
                now(), id, now() - make_interval(secs => 1000 - n)
           FROM import_jobs, generate_series(1, 99) AS n WHERE id = $1::uuid",
    )
    .bind(id)
    .execute(&app.db)
    .await
    .unwrap();
    let one = json!({"rows": [{"line": 3, "values": {"Amount": "1"}}]});
    let last = app.corrected(&key, id, &one).await;
    let message = fail_message(app.correct(&key, id, &one).await, 409).await;
    assert!(message.contains("100 corrections already"), "{message}");

    let parent: Value = app
        .get(&key, &format!("/api/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let corrections = parent["data"]["corrections"].as_array().unwrap();
    assert_eq!(corrections.len(), 100);
    // Oldest first: the one made last ends the list.
    assert_eq!(corrections[99]["id"], last["id"]);
}

#[tokio::test]
async fn a_job_that_has_not_ended_cannot_be_corrected_yet() {
    // No worker: the job stays queued.
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(&key, "opportunities", "", WITH_THREE_BAD_ROWS)
        .await;
    let message = fail_message(
        app.correct(&key, &id, &json!({"rows": [{"line": 3}]}))
            .await,
        409,
    )
    .await;
    assert!(message.contains("is still queued"), "{message}");
}

/// The 20 MB file: an opportunities CSV just under 20 MB whose rows at `bad` (0-based)
/// have an amount that is not a number. Returns the file and its row count.
pub(crate) fn big_file_with_bad_amounts(bad: &[usize]) -> (String, usize) {
    const TARGET: usize = 20 * 1024 * 1024 - 4096;
    let mut csv = String::from(
        "Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Opportunity Owner,\
         Account Name,Next Step\n",
    );
    let mut row = 0;
    while csv.len() < TARGET - 200 {
        let amount = if bad.contains(&row) {
            format!("{row}abc")
        } else {
            format!("{}", 1000 + row)
        };
        csv.push_str(&format!(
            "BIG-{row},Deal number {row} of the big file,{amount},2026-03-15,Prospecting,\
             Owner {o},Account {row} Incorporated,Call back about proposal {row}\n",
            o = row % 50
        ));
        row += 1;
    }
    (csv, row)
}

/// The 0-based rows of the big file that fail: spread from the first to near the last.
pub(crate) const BIG_BAD_ROWS: [usize; 12] = [
    0, 7, 999, 4_000, 4_001, 25_000, 50_000, 77_777, 100_000, 120_000, 130_000, 140_000,
];

/// Settings for the 20 MB file: the default chunk (the tests' 3 rows would take minutes).
pub(crate) fn big_file_settings(settings: &mut batch_import::config::Settings) {
    settings.import_chunk_rows = 4000;
}

#[tokio::test]
async fn the_20_mb_file_corrected_through_the_api_stores_every_row_once() {
    let app = spawn_app_with(big_file_settings, true).await;
    let key = app.admin_key().await;
    let (csv, rows) = big_file_with_bad_amounts(&BIG_BAD_ROWS);
    assert!(rows > BIG_BAD_ROWS[11], "{rows} rows");
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    let parent = app
        .wait_for_job_within(&key, &id, Duration::from_secs(120))
        .await;
    assert_counts(
        &parent,
        Counts::new()
            .original(rows as i64)
            .imported((rows - 12) as i64)
            .errors(12),
    );
    let failed = app.failed_rows(&key, &id).await;
    assert_eq!(failed.len(), 12);
    let fixes: Vec<Value> = failed
        .iter()
        // Cents: no amount of the file's good rows has them.
        .map(|row| json!({"line": row["line"], "values": {"Amount": "80000.25"}}))
        .collect();
    let child = app.corrected(&key, &id, &json!({ "rows": fixes })).await;
    assert_counts(&child, Counts::new().original(12).imported(12).errors(0));
    assert_eq!(app.opportunity_rows().await, (rows as i64, rows as i64));
    let corrected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM opportunities WHERE amount = 80000.25")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(corrected, 12);
}

#[tokio::test]
async fn the_20_mb_file_corrected_through_the_cli_stores_every_row_once() {
    let app = spawn_app_with(big_file_settings, true).await;
    let key = app.admin_key().await;
    let (csv, rows) = big_file_with_bad_amounts(&BIG_BAD_ROWS);
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    let parent = app
        .wait_for_job_within(&key, &id, Duration::from_secs(120))
        .await;
    assert_counts(&parent, Counts::new().errors(12));

    // The error CSV as a user edits it: all but one amount corrected.
    let error_csv = app.error_csv(&key, &parent).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv.errors.csv");
    let bad = format!(",{}abc,", BIG_BAD_ROWS[11]);
    let edited: String = error_csv
        .lines()
        .map(|line| {
            if line.contains(&bad) {
                line.to_owned()
            } else {
                line.replace("abc,", ",")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, format!("\u{feff}{edited}\n")).unwrap();

    let output = app
        .client(&key, &["fix", &id, file.to_str().unwrap(), "--json"])
        .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "rows still fail: {stderr}");
    let child: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_counts(&child, Counts::new().original(12).imported(11).errors(1));
    assert_eq!(child["parent_job_id"], id.as_str());
    // The row still failing is saved beside the file, to fix again.
    let again = dir.path().join("big.csv.errors.csv.errors.csv");
    let still = std::fs::read_to_string(&again).unwrap();
    assert!(still.contains(&bad), "{still}");
    let fixed = still.replace(&bad, ",5,");
    std::fs::write(&again, fixed).unwrap();

    let child_id = child["id"].as_str().unwrap();
    let output = app
        .client(&key, &["fix", child_id, again.to_str().unwrap()])
        .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("imported all 1 rows"), "{stderr}");
    assert_eq!(app.opportunity_rows().await, (rows as i64, rows as i64));

    // A file that is not an error CSV is refused before anything is sent.
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, "Opportunity ID,Amount\nX,1\n").unwrap();
    let output = app
        .client(&key, &["fix", &id, plain.to_str().unwrap()])
        .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no Line column"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The bodies of the POSTs a loopback receiver got, answering each `200`.
async fn receive_posts(
    listener: tokio::net::TcpListener,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                let Ok(read) = stream.read(&mut buffer).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                request.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&request).into_owned();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if request.len() < end + 4 + length {
                    continue;
                }
                let body = serde_json::from_slice(&request[end + 4..end + 4 + length]).unwrap();
                bodies.lock().unwrap().push(body);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            }
        });
    }
}

#[tokio::test]
async fn the_webhook_of_a_correction_names_its_parent() {
    let app = spawn_app_with(|s| s.webhook_allow_private_networks = true, true).await;
    let key = app.admin_key().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tokio::spawn(receive_posts(listener, bodies.clone()));
    let response = app
        .client
        .post(format!("{}/api/v1/webhooks", app.address))
        .header("Authorization", &key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let parent = app
        .import(&key, "opportunities", "", WITH_THREE_BAD_ROWS)
        .await;
    let parent_id = parent["id"].as_str().unwrap();
    let child = app
        .corrected(
            &key,
            parent_id,
            &json!({"rows": [{"line": 3, "values": {"Amount": "80000"}}]}),
        )
        .await;
    // Both jobs' ends are delivered; a bound against a hang only.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let received = loop {
        let received = bodies.lock().unwrap().clone();
        if received.len() >= 2 {
            break received;
        }
        assert!(std::time::Instant::now() < deadline, "got {received:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let of_child = received
        .iter()
        .find(|body| body["id"] == child["id"])
        .unwrap_or_else(|| panic!("no call for the correction: {received:?}"));
    assert_eq!(of_child["parent_job_id"], parent_id);
    assert_eq!(of_child["state"], "completed");
    assert_eq!(of_child["total_imported_rows"], 1);
    let of_parent = received
        .iter()
        .find(|body| body["id"] == parent_id)
        .unwrap();
    assert_eq!(of_parent["parent_job_id"], Value::Null);
}
