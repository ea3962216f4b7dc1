//! What became of each row: created, updated or unchanged (not rewritten), for every kind,
//! and the dry run (`validate_only`) that counts the same and stores nothing.

use serde_json::Value;

use crate::helpers::{Counts, TestApp, assert_counts, spawn_app};

/// One kind's files: the stored data, a file of 100 rows over it (40 new, 30 changed,
/// 20 unchanged, 10 bad, interleaved) and that file with one field of one row changed.
struct Case {
    kind: &'static str,
    /// The tables the kind writes, compared before and after.
    tables: &'static [&'static str],
    /// Opportunities to import first (contacts link to them).
    setup: Option<&'static str>,
    base: String,
    file: String,
    one_change: String,
}

/// The category of row `i` of the 100-row file: 40 new, 30 changed, 20 unchanged, 10 bad.
enum Row {
    New,
    Changed(usize),
    Unchanged(usize),
    Bad,
}

fn rows() -> impl Iterator<Item = (usize, Row)> {
    let (mut changed, mut unchanged) = (0, 30);
    (0..100).map(move |i| {
        let row = match i % 10 {
            0..=3 => Row::New,
            4..=6 => {
                changed += 1;
                Row::Changed(changed - 1)
            }
            7 | 8 => {
                unchanged += 1;
                Row::Unchanged(unchanged - 1)
            }
            _ => Row::Bad,
        };
        (i, row)
    })
}

fn opportunities() -> Case {
    let header = "Opportunity ID,Opportunity Name,Amount,Stage\n";
    let stored = |k: usize| format!("O-{k},Deal {k},{},Open\n", 100 + k);
    let base: String = header.to_owned() + &(0..50).map(stored).collect::<String>();
    let mut file = header.to_owned();
    for (i, row) in rows() {
        file.push_str(&match row {
            Row::New => format!("N-{i},New {i},5,Open\n"),
            Row::Changed(k) => format!("O-{k},Deal {k},{},Won\n", 100 + k),
            // A blank cell never wipes a stored value: still unchanged.
            Row::Unchanged(k) if k % 2 == 0 => format!("O-{k},Deal {k},,\n"),
            Row::Unchanged(k) => stored(k),
            Row::Bad => format!("B-{i},Bad {i},not a number,Open\n"),
        });
    }
    let one_change = file.replace("O-31,Deal 31,131,Open", "O-31,Deal 31,999,Open");
    Case {
        kind: "opportunities",
        tables: &["opportunities"],
        setup: None,
        base,
        file,
        one_change,
    }
}

fn contacts() -> Case {
    let header = "Email,First Name,Last Name,Title,Opportunity ID\n";
    let stored = |k: usize| format!("c{k}@example.com,First{k},Last{k},Engineer,OPP-1\n");
    let base: String = header.to_owned() + &(0..50).map(stored).collect::<String>();
    let mut file = header.to_owned();
    for (i, row) in rows() {
        file.push_str(&match row {
            Row::New => format!("n{i}@example.com,New,Person{i},Engineer,OPP-1\n"),
            Row::Changed(k) if k % 2 == 0 => {
                format!("c{k}@example.com,First{k},Last{k},Manager,OPP-1\n")
            }
            // Its only change is a new link: updated.
            Row::Changed(k) => format!("c{k}@example.com,First{k},Last{k},Engineer,OPP-2\n"),
            Row::Unchanged(k) if k % 2 == 0 => {
                format!("c{k}@example.com,First{k},Last{k},,OPP-1\n")
            }
            Row::Unchanged(k) => format!("c{k}@example.com,First{k},Last{k},Engineer,\n"),
            Row::Bad if i % 20 == 9 => format!("not-an-email-{i},X,Y,Z,OPP-1\n"),
            Row::Bad => format!("x{i}@example.com,X,Y,Z,NOPE-{i}\n"),
        });
    }
    let one_change = file.replace(
        "c31@example.com,First31,Last31,Engineer,",
        "c31@example.com,First31,Last31,Director,",
    );
    Case {
        kind: "contacts",
        tables: &["contacts", "contact_opportunities"],
        setup: Some("Opportunity ID,Opportunity Name\nOPP-1,One\nOPP-2,Two\n"),
        base,
        file,
        one_change,
    }
}

fn sales_targets() -> Case {
    let header = "Email Address of Salesrep,Month,Amount\n";
    let stored = |k: usize| format!("rep{k}@example.com,2026-01,{}\n", 1000 + k);
    let base: String = header.to_owned() + &(0..50).map(stored).collect::<String>();
    let mut file = header.to_owned();
    for (i, row) in rows() {
        file.push_str(&match row {
            Row::New => format!("new{i}@example.com,2026-02,500\n"),
            Row::Changed(k) => format!("rep{k}@example.com,2026-01,{}\n", 5000 + k),
            // The same number written otherwise is the same value.
            Row::Unchanged(k) if k % 2 == 0 => {
                format!("rep{k}@example.com,2026-01,{}.00\n", 1000 + k)
            }
            Row::Unchanged(k) => stored(k),
            Row::Bad => format!("rep{i}@example.com,not a month,1\n"),
        });
    }
    let one_change = file.replace(
        "rep31@example.com,2026-01,1031",
        "rep31@example.com,2026-01,1",
    );
    Case {
        kind: "sales_targets",
        tables: &["sales_targets"],
        setup: None,
        base,
        file,
        one_change,
    }
}

/// Each table's row count and a digest of every row (`updated_at` included).
async fn snapshot(app: &TestApp, tables: &[&str]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for table in tables {
        out.push(
            sqlx::query_as(&format!(
                "SELECT count(*), COALESCE(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
                   FROM {table} t"
            ))
            .fetch_one(&app.db)
            .await
            .unwrap(),
        );
    }
    out
}

/// `updated_at` of every row of the kind's main table.
async fn updated_at(app: &TestApp, table: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar(&format!("SELECT updated_at FROM {table} ORDER BY id"))
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// The job completed with these row outcomes, and its imported rows are the created,
/// updated and unchanged ones.
#[track_caller]
fn assert_outcomes(job: &Value, [created, updated, unchanged, errors]: [i64; 4]) {
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(
        job,
        Counts::new()
            .created(created)
            .updated(updated)
            .unchanged(unchanged)
            .errors(errors)
            .imported(created + updated + unchanged),
    );
}

/// Stored data, a dry run of the 40/30/20/10 file, its real import, a re-upload, and a
/// file changing one field of one row.
async fn outcomes_of(case: Case) {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    if let Some(setup) = case.setup {
        let job = app.import(&key, "opportunities", "", setup).await;
        assert_counts(&job, Counts::new().imported(2));
    }
    let job = app.import(&key, case.kind, "", case.base.clone()).await;
    assert_outcomes(&job, [50, 0, 0, 0]);
    assert_eq!(job["dry_run"], false);

    // The dry run counts what the import will do, and stores nothing.
    let before = snapshot(&app, case.tables).await;
    let dry = app
        .import(&key, case.kind, "validate_only=true", case.file.clone())
        .await;
    assert_outcomes(&dry, [40, 30, 20, 10]);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_counts(&dry, Counts::new().original(100));
    assert_eq!(
        snapshot(&app, case.tables).await,
        before,
        "a dry run stores nothing"
    );
    let dry_errors = app.error_csv(&key, &dry).await;
    if case.kind == "contacts" {
        // The opportunity references are checked like the import checks them.
        let messages = crate::helpers::error_messages(&dry_errors);
        let unknown = messages
            .iter()
            .filter(|m| m.starts_with("unknown Opportunity ID \"NOPE-"))
            .count();
        assert_eq!(unknown, 5, "{messages:?}");
    }

    let job = app.import(&key, case.kind, "", case.file.clone()).await;
    assert_outcomes(&job, [40, 30, 20, 10]);
    assert_eq!(job["dry_run"], false);
    assert_eq!(
        app.error_csv(&key, &job).await,
        dry_errors,
        "the dry run's error CSV is the import's"
    );
    // And the same errors as data, and error summary.
    let errors = |job: &Value| {
        let url = format!(
            "/api/v1/jobs/{}/errors?limit=100",
            job["id"].as_str().unwrap()
        );
        let app = &app;
        let key = &key;
        async move {
            let body: Value = app.get(key, &url).await.json().await.unwrap();
            body["data"].clone()
        }
    };
    let dry_data = errors(&dry).await;
    assert_eq!(dry_data.as_array().map(Vec::len), Some(10), "{dry_data}");
    assert_eq!(dry_data, errors(&job).await);
    assert_eq!(dry["error_summary"], job["error_summary"]);
    let listed: Value = app
        .get(&key, &format!("/api/v1/jobs?kind={}", case.kind))
        .await
        .json()
        .await
        .unwrap();
    let listed = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == job["id"])
        .unwrap()
        .clone();
    assert_outcomes(&listed, [40, 30, 20, 10]);

    // The same file again: every row unchanged, nothing rewritten.
    let before = snapshot(&app, case.tables).await;
    let stamps = updated_at(&app, case.tables[0]).await;
    let job = app.import(&key, case.kind, "", case.file.clone()).await;
    assert_outcomes(&job, [0, 0, 90, 10]);
    assert_eq!(updated_at(&app, case.tables[0]).await, stamps);
    assert_eq!(snapshot(&app, case.tables).await, before);

    // One field of one row.
    assert_ne!(case.one_change, case.file);
    let job = app.import(&key, case.kind, "", case.one_change).await;
    assert_outcomes(&job, [0, 1, 89, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_count_created_updated_and_unchanged_rows_and_dry_run() {
    outcomes_of(opportunities()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_count_created_updated_and_unchanged_rows_and_dry_run() {
    outcomes_of(contacts()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_targets_count_created_updated_and_unchanged_rows_and_dry_run() {
    outcomes_of(sales_targets()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_repeated_in_one_file_counts_its_first_row_against_the_store_and_the_rest_as_changes()
{
    let app = spawn_app().await;
    let key = app.admin_key().await;
    app.import(
        &key,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name,Amount\nS-1,Stored,10\n",
    )
    .await;
    // A: new, then changed by its second row. S-1: stored, repeated twice unchanged.
    // B: new, repeated unchanged.
    let job = app
        .import(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name,Amount\n\
             A,First,1\nS-1,Stored,10\nA,First,2\nS-1,Stored,\nB,Bee,3\nB,Bee,3\n",
        )
        .await;
    assert_outcomes(&job, [2, 1, 3, 0]);
    let amount: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT amount FROM opportunities WHERE external_opp_id = 'A'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(amount, rust_decimal::Decimal::from(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_only_is_also_a_form_field_and_refuses_a_bad_flag() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let part =
        reqwest::multipart::Part::bytes(b"Opportunity ID,Opportunity Name\nF-1,One\n".to_vec())
            .file_name("f.csv")
            .mime_str("text/csv")
            .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("validate_only", "true")
        .part("file", part);
    let body: Value = app
        .client
        .post(format!(
            "{}/api/v1/opportunities/upload?wait=true",
            app.address
        ))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["dry_run"], true, "{body}");
    let job = app
        .wait_for_job(&key, body["data"]["id"].as_str().unwrap())
        .await;
    assert_outcomes(&job, [1, 0, 0, 0]);
    assert_eq!(app.stored_opportunities().await, 0);

    let response = app
        .upload(&key, "opportunities", "validate_only=maybe", "f.csv", "x\n")
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_validate_only_prints_the_counts_and_dry_run() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    app.import(
        &key,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name\nK-1,One\nK-5,Five\n",
    )
    .await;
    let path = app.storage.path().join("check.csv");
    std::fs::write(
        &path,
        "Opportunity ID,Opportunity Name,Amount\nK-1,Uno,\nK-5,Five,\nK-2,Two,x\nK-3,Three,3\n",
    )
    .unwrap();
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--validate-only",
                path.to_str().unwrap(),
            ],
        )
        .await;
    let text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a row failed: {text}\n{stderr}");
    for line in [
        "state=completed",
        "total_original_rows=4",
        "total_imported_rows=3",
        "total_error_rows=1",
        "created_rows=1",
        "updated_rows=1",
        "unchanged_rows=1",
        "dry_run=true",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    assert!(stderr.contains("nothing stored"), "{stderr}");
    assert_eq!(app.stored_opportunities().await, 2);
}

/// A row Postgres refuses (a key too long to index) sends its chunk row by row; in a dry
/// run each attempt runs under a savepoint, so the rest of the run still counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_survives_a_row_the_database_refuses() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // 3,000 characters that do not compress, more than a btree entry may hold.
    let mut seed = 7u64;
    let long_id: String = (0..3000)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + ((seed >> 33) % 26) as u8)
        })
        .collect();
    let csv = format!(
        "Opportunity ID,Opportunity Name\nOK-1,fine\n{long_id},too long\nOK-2,fine\nOK-3,x\nOK-1,fine\n"
    );
    let dry = app
        .import(&key, "opportunities", "validate_only=true", csv.clone())
        .await;
    assert_outcomes(&dry, [3, 0, 1, 1]);
    assert_eq!(app.stored_opportunities().await, 0);
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_outcomes(&job, [3, 0, 1, 1]);
    assert_eq!(
        app.error_csv(&key, &job).await,
        app.error_csv(&key, &dry).await
    );
    assert_eq!(app.stored_opportunities().await, 3);
}

/// A check and the import of the same file under one Idempotency-Key are different
/// requests: the import is never answered with the dry run's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_of_a_dry_run_does_not_replay_it_for_the_import() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name\nI-1,One\n";
    let upload = |query: &'static str| {
        app.client
            .post(format!(
                "{}/api/v1/opportunities/upload?{query}",
                app.address
            ))
            .header("Authorization", &key)
            .header("Idempotency-Key", "check-then-import")
            .multipart(crate::helpers::csv_form("i.csv", csv))
            .send()
    };
    let first = upload("validate_only=true").await.unwrap();
    assert_eq!(first.status(), 202);
    let again = upload("validate_only=true").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let import = upload("").await.unwrap();
    assert_eq!(import.status(), 409);
}
