//! Undo an import: `POST /api/v1/jobs/{id}/revert` makes a revert job that deletes the
//! rows the job created, restores the rows it changed to exactly their earlier values and
//! leaves alone (as `changed_since` failed rows) the rows another job changed since.
//!
//! The scenario of each kind: import A creates 1,000 rows; import B changes 500 of them
//! (some columns, empty cells filled) and creates 200; import C changes 10 of B's 500
//! again. Reverting B deletes the 200, restores 490 to A's values and lists 10 conflicts;
//! C's values stay; B cannot be reverted again.

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

impl TestApp {
    /// `POST /api/v1/jobs/{id}/revert{query}`.
    pub async fn revert(&self, key: &str, id: &str, query: &str) -> reqwest::Response {
        self.post(key, &format!("/api/v1/jobs/{id}/revert{query}"))
            .await
    }

    /// Reverts (asserting 202 and its `Location`) and waits for the revert job.
    pub async fn reverted(&self, key: &str, id: &str, query: &str) -> Value {
        let job = self.accepted_job(self.revert(key, id, query).await).await;
        assert_eq!(job["reverts_job_id"], id, "{job}");
        self.wait_for_job(key, job["id"].as_str().unwrap()).await
    }

    /// Every stored row of a kind as text, keyed and ordered (what a revert must give back).
    pub async fn table_snapshot(&self, kind: &str) -> Vec<Vec<Option<String>>> {
        let sql = match kind {
            "opportunities" => {
                "SELECT ARRAY[external_opp_id, name, amount::text, close_date::text, stage,
                              owner_name, owner_email, next_step]
                   FROM opportunities ORDER BY external_opp_id"
            }
            "contacts" => {
                "SELECT ARRAY[email, fullname, first_name, last_name, title, company_name, phone,
                              (SELECT string_agg(o.external_opp_id, ' ' ORDER BY o.external_opp_id)
                                 FROM contact_opportunities l
                                 JOIN opportunities o ON o.id = l.opportunity_id
                                WHERE l.contact_id = c.id)]
                   FROM contacts c ORDER BY lower(email)"
            }
            "sales_targets" => {
                "SELECT ARRAY[rep_email, month::text, amount::text]
                   FROM sales_targets ORDER BY lower(rep_email), month"
            }
            other => panic!("no kind {other}"),
        };
        sqlx::query_scalar(sql).fetch_all(&self.db).await.unwrap()
    }
}

/// The revert job's counts, as `(deleted, restored, conflicts)`.
fn revert_counts(job: &Value) -> (i64, i64, i64) {
    let count = |field: &str| {
        job[field]
            .as_i64()
            .unwrap_or_else(|| panic!("{field} in {job}"))
    };
    (
        count("deleted_rows"),
        count("restored_rows"),
        count("conflict_rows"),
    )
}

/// A's file of each kind: 1,000 rows, some cells empty.
fn file_a(kind: &str) -> String {
    let mut csv = String::new();
    match kind {
        "opportunities" => {
            csv.push_str("Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Next Step\n");
            for i in 0..1000 {
                let date = if i % 7 == 0 {
                    String::new()
                } else {
                    format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1)
                };
                let step = if i % 2 == 0 { "" } else { "Call back" };
                csv.push_str(&format!(
                    "O-{i:04},Deal {i},{i}.50,{date},Prospecting,{step}\n"
                ));
            }
        }
        "contacts" => {
            csv.push_str("Opportunity ID,Email,First Name,Last Name,Title,Phone\n");
            for i in 0..1000 {
                let phone = if i % 3 == 0 {
                    String::new()
                } else {
                    format!("+1 555 {i:04}")
                };
                csv.push_str(&format!(
                    "O-{:04},person{i}@example.com,Ann{i},Lee,Buyer,{phone}\n",
                    i % 50
                ));
            }
        }
        "sales_targets" => {
            csv.push_str("Email Address of Salesrep,Month,Amount\n");
            for i in 0..1000 {
                csv.push_str(&format!(
                    "rep{}@example.com,2026-{:02},{}.25\n",
                    i / 12,
                    i % 12 + 1,
                    1000 + i
                ));
            }
        }
        other => panic!("no kind {other}"),
    }
    csv
}

/// B's file: rows 0–499 of A changed (some columns; empty cells of A filled), 200 new.
fn file_b(kind: &str) -> String {
    let mut csv = String::new();
    match kind {
        "opportunities" => {
            csv.push_str("Opportunity ID,Opportunity Name,Amount,Close Date,Next Step\n");
            for i in 0..500 {
                csv.push_str(&format!(
                    "O-{i:04},Deal {i},{}.75,2027-01-{:02},Send quote\n",
                    i * 2,
                    i % 28 + 1
                ));
            }
            for i in 1000..1200 {
                csv.push_str(&format!("O-{i:04},New deal {i},5,2027-02-01,\n"));
            }
        }
        "contacts" => {
            csv.push_str("Opportunity ID,Email,Title,Phone\n");
            for i in 0..500 {
                // A new link for each, and a new title; phones A left empty are filled.
                csv.push_str(&format!(
                    "O-{:04},person{i}@example.com,Head of buying,+1 666 {i:04}\n",
                    50 + i % 10
                ));
            }
            for i in 1000..1200 {
                csv.push_str(&format!("O-0001,person{i}@example.com,New,\n"));
            }
        }
        "sales_targets" => {
            csv.push_str("Email Address of Salesrep,Month,Amount\n");
            for i in 0..500 {
                csv.push_str(&format!(
                    "rep{}@example.com,2026-{:02},{}\n",
                    i / 12,
                    i % 12 + 1,
                    9000 + i
                ));
            }
            for i in 0..200 {
                csv.push_str(&format!("new{i}@example.com,2027-01,1\n"));
            }
        }
        other => panic!("no kind {other}"),
    }
    csv
}

/// C's file: rows 0–9 of B's changed again.
fn file_c(kind: &str) -> String {
    let mut csv = String::new();
    match kind {
        "opportunities" => {
            csv.push_str("Opportunity ID,Opportunity Name,Stage\n");
            for i in 0..10 {
                csv.push_str(&format!("O-{i:04},Deal {i},Closed Won\n"));
            }
        }
        "contacts" => {
            csv.push_str("Email,Title\n");
            for i in 0..10 {
                csv.push_str(&format!("person{i}@example.com,Chief buyer\n"));
            }
        }
        "sales_targets" => {
            csv.push_str("Email Address of Salesrep,Month,Amount\n");
            for i in 0..10 {
                csv.push_str(&format!(
                    "rep{}@example.com,2026-{:02},77\n",
                    i / 12,
                    i % 12 + 1
                ));
            }
        }
        other => panic!("no kind {other}"),
    }
    csv
}

/// The opportunities contacts link to (O-0000 … O-0059).
fn linked_opportunities() -> String {
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    for i in 0..60 {
        csv.push_str(&format!("O-{i:04},Deal {i}\n"));
    }
    csv
}

/// The key of a snapshot row (its first cells: the columns a revert never changes).
fn key_of(row: &[Option<String>], kind: &str) -> String {
    let cells = if kind == "sales_targets" { 2 } else { 1 };
    row[..cells]
        .iter()
        .map(|c| c.clone().unwrap_or_default().to_lowercase())
        .collect::<Vec<_>>()
        .join("/")
}

/// The key of row `i` of A's file.
fn key_of_row(kind: &str, i: usize) -> String {
    match kind {
        "opportunities" => format!("o-{i:04}"),
        "contacts" => format!("person{i}@example.com"),
        _ => format!("rep{}@example.com/2026-{:02}-01", i / 12, i % 12 + 1),
    }
}

async fn undo_restores_what_the_import_changed(kind: &str) {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    if kind == "contacts" {
        app.import(&key, "opportunities", "", linked_opportunities())
            .await;
    }
    let a = app.import(&key, kind, "", file_a(kind)).await;
    assert_eq!(a["created_rows"], 1000, "{a}");
    let after_a = app.table_snapshot(kind).await;
    let b = app.import(&key, kind, "", file_b(kind)).await;
    assert_eq!(
        (b["created_rows"].as_i64(), b["updated_rows"].as_i64()),
        (Some(200), Some(500)),
        "{b}"
    );
    let c = app.import(&key, kind, "", file_c(kind)).await;
    assert_eq!(c["updated_rows"], 10, "{c}");
    let after_c = app.table_snapshot(kind).await;
    let b_id = b["id"].as_str().unwrap();

    // A dry run counts and changes nothing.
    let dry = app.reverted(&key, b_id, "?validate_only=true").await;
    assert_eq!(dry["state"], "completed", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(revert_counts(&dry), (200, 490, 10), "{dry}");
    assert_eq!(
        app.table_snapshot(kind).await,
        after_c,
        "a dry run changes nothing"
    );
    let b_now: Value = app
        .get(&key, &format!("/api/v1/jobs/{b_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        b_now["data"]["reverted_by_job_id"],
        Value::Null,
        "a dry run does not revert"
    );

    let undo = app.reverted(&key, b_id, "").await;
    assert_eq!(undo["state"], "completed", "{undo}");
    assert_eq!(undo["kind"], kind);
    assert_eq!(revert_counts(&undo), (200, 490, 10), "{undo}");
    assert_eq!(undo["total_error_rows"], 10);
    assert_eq!(undo["total_imported_rows"], 690);
    assert_eq!(undo["created_rows"], Value::Null, "{undo}");

    // Rows 0–9 keep C's values; every other row of A has exactly A's values again; B's
    // new rows are gone.
    let now = app.table_snapshot(kind).await;
    let conflicts: std::collections::HashSet<String> =
        (0..10).map(|i| key_of_row(kind, i)).collect();
    let expected: Vec<_> = after_a
        .iter()
        .map(|row| {
            let key = key_of(row, kind);
            match conflicts.contains(&key) {
                true => after_c
                    .iter()
                    .find(|r| key_of(r, kind) == key)
                    .unwrap()
                    .clone(),
                false => row.clone(),
            }
        })
        .collect();
    assert_eq!(now.len(), 1000, "B's 200 new rows are deleted");
    assert_eq!(now, expected, "restored to A's values, C's kept");
    // Only imports keep before-images: B's and C's records are there, the revert's
    // restoring writes and the dry run's kept none.
    let kept_by = |job: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(sum(cardinality(row_ids)), 0)
                   FROM import_change_sets WHERE job_id = $1::uuid",
            )
            .bind(job)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(kept_by(b_id.to_owned()).await, 500, "B changed 500 rows");
    assert_eq!(kept_by(c["id"].as_str().unwrap().to_owned()).await, 10);
    assert_eq!(kept_by(undo["id"].as_str().unwrap().to_owned()).await, 0);
    assert_eq!(kept_by(dry["id"].as_str().unwrap().to_owned()).await, 0);

    // The conflicts are the revert's failed rows, value now beside value before.
    let undo_id = undo["id"].as_str().unwrap();
    let failed = app.failed_rows(&key, undo_id).await;
    assert_eq!(failed.len(), 10);
    for row in &failed {
        let problems = row["problems"].as_array().unwrap();
        assert!(!problems.is_empty(), "{row}");
        assert!(
            problems.iter().all(|p| p["code"] == "changed_since"),
            "{row}"
        );
        assert!(
            problems[0]["message"]
                .as_str()
                .unwrap()
                .contains(c["id"].as_str().unwrap()),
            "names the job that changed it since: {row}"
        );
    }
    let csv = app.error_csv(&key, &undo).await;
    assert!(
        csv.lines().next().unwrap().contains("before import"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 11, "{csv}");

    // The reverted job names its revert; B cannot be reverted again, nor the revert.
    let b_now: Value = app
        .get(&key, &format!("/api/v1/jobs/{b_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b_now["data"]["reverted_by_job_id"], undo_id);
    let again = app.revert(&key, b_id, "").await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("reverted already"),
        "{body}"
    );
    let of_revert = app.revert(&key, undo_id, "").await;
    assert_eq!(of_revert.status(), 409);
    let dry_again = app.revert(&key, dry["id"].as_str().unwrap(), "").await;
    assert_eq!(dry_again.status(), 409);
    assert_eq!(
        app.table_snapshot(kind).await,
        expected,
        "refusals change nothing"
    );

    // A write outside an import keeps nothing, even one that stamps B as the writer.
    let records = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM import_change_sets")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let before = records().await;
    let by_hand = sqlx::query(&format!(
        "UPDATE {kind} SET version = version + 1, updated_by_job = $1::uuid, updated_at = now()"
    ))
    .bind(b_id)
    .execute(&app.db)
    .await
    .unwrap();
    assert!(by_hand.rows_affected() >= 1000);
    assert_eq!(records().await, before, "no job named: no before-image");
}

#[tokio::test]
async fn undo_restores_opportunities() {
    undo_restores_what_the_import_changed("opportunities").await;
}

#[tokio::test]
async fn undo_restores_contacts_and_their_links() {
    undo_restores_what_the_import_changed("contacts").await;
}

#[tokio::test]
async fn undo_restores_sales_targets() {
    undo_restores_what_the_import_changed("sales_targets").await;
}

/// A small A and B of opportunities: B changes O-1's amount and creates O-3.
async fn small_a_and_b(app: &TestApp, key: &str, b_query: &str) -> (Value, Value) {
    let a = app
        .import(
            key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name,Amount\nO-1,One,10\nO-2,Two,20\n",
        )
        .await;
    let b = app
        .import(
            key,
            "opportunities",
            b_query,
            "Opportunity ID,Opportunity Name,Amount\nO-1,One,11\nO-3,Three,30\n",
        )
        .await;
    (a, b)
}

async fn refusal(app: &TestApp, key: &str, id: &str, status: u16) -> String {
    let response = app.revert(key, id, "").await;
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    body["data"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn only_an_admin_of_the_tenant_reverts_an_ended_job_that_kept_its_changes() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let (a, b) = small_a_and_b(&app, &key, "").await;
    let b_id = b["id"].as_str().unwrap();
    let member = app.key("acme", "member@acme.com", false).await;
    refusal(&app, &member, b_id, 403).await;
    let stranger = app.key("other", "boss@other.com", true).await;
    refusal(&app, &stranger, b_id, 404).await;
    let bad = app.revert(&key, b_id, "?validate_only=perhaps").await;
    assert_eq!(bad.status(), 400);

    // A job from before undo existed kept nothing.
    sqlx::query("UPDATE import_jobs SET changes_kept = false WHERE id = $1")
        .bind(uuid::Uuid::parse_str(a["id"].as_str().unwrap()).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let message = refusal(&app, &key, a["id"].as_str().unwrap(), 409).await;
    assert!(message.contains("before undo existed"), "{message}");

    // A job still queued (made so here) cannot be reverted yet.
    sqlx::query("UPDATE import_jobs SET state = 'queued' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(b_id).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let message = refusal(&app, &key, b_id, 409).await;
    assert!(message.contains("still queued"), "{message}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 2, "refusals make no job");
}

#[tokio::test]
async fn kept_changes_are_purged_after_the_retention_and_the_revert_then_refused() {
    let app = crate::helpers::spawn_app_with(
        |settings| {
            settings.revert_retention_days = 1;
            settings.reconcile_interval_secs = 1;
        },
        true,
    )
    .await;
    let key = app.admin_key().await;
    let (_, b) = small_a_and_b(&app, &key, "").await;
    let b_id = uuid::Uuid::parse_str(b["id"].as_str().unwrap()).unwrap();
    // Rows kept in B's before-image records, and rows a revert (here the dry run below)
    // unpacked from them.
    let images = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COALESCE(sum(cardinality(row_ids)), 0)
                       FROM import_change_sets WHERE job_id = $1)
                  + (SELECT count(*) FROM import_changes WHERE job_id = $1)",
        )
        .bind(b_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(
        images().await,
        1,
        "B's change of O-1 is kept (O-3 is known by id)"
    );
    let dry = app
        .reverted(&key, &b_id.to_string(), "?validate_only=true")
        .await;
    assert_eq!(dry["state"], "completed", "{dry}");
    assert_eq!(images().await, 2, "the dry run unpacked B's one image");
    // B ended two days ago: the reconciler purges its images.
    sqlx::query("UPDATE import_jobs SET finished_at = now() - interval '2 days' WHERE id = $1")
        .bind(b_id)
        .execute(&app.db)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while images().await > 0 {
        assert!(std::time::Instant::now() < deadline, "purged within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let purged: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT changes_purged_at FROM import_jobs WHERE id = $1")
            .bind(b_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(purged.is_some());
    let message = refusal(&app, &key, &b_id.to_string(), 409).await;
    assert!(
        message.contains("kept for 1 days") && message.contains("REVERT_RETENTION_DAYS"),
        "{message}"
    );
}

#[tokio::test]
async fn a_revert_with_conflicts_emails_its_report_and_calls_no_one_twice() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let (_, b) = small_a_and_b(&app, &key, "").await;
    app.import(
        &key,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name,Amount\nO-1,One,12\n",
    )
    .await;
    let b_id = b["id"].as_str().unwrap();
    let undo = app.reverted(&key, b_id, "?send_error_email=true").await;
    assert_eq!(revert_counts(&undo), (1, 0, 1), "{undo}");
    assert_eq!(
        app.table_snapshot("opportunities").await.len(),
        2,
        "O-3 deleted"
    );
    let messages = app
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(messages.len(), 1);
    let parsed = messages[0].parsed();
    let subject = parsed.subject().unwrap().to_owned();
    assert!(subject.contains("1 row(s) changed since"), "{subject}");
    let body = parsed.body_text(0).unwrap();
    assert!(
        body.contains(&format!("undo of job {b_id}")) && body.contains("Deleted:            1"),
        "{body}"
    );
    assert!(body.contains("Conflicts:          1"), "{body}");
}

#[tokio::test]
async fn an_opportunity_that_contacts_were_linked_to_since_is_not_deleted() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let (_, b) = small_a_and_b(&app, &key, "").await;
    app.import(
        &key,
        "contacts",
        "",
        "Opportunity ID,Email\nO-3,ann@example.com\n",
    )
    .await;
    let undo = app.reverted(&key, b["id"].as_str().unwrap(), "").await;
    assert_eq!(revert_counts(&undo), (0, 1, 1), "{undo}");
    let failed = app.failed_rows(&key, undo["id"].as_str().unwrap()).await;
    let message = failed[0]["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains("linked to contacts since"), "{message}");
    let contacts = app.table_snapshot("contacts").await;
    assert_eq!(contacts[0][7].as_deref(), Some("O-3"), "the link stays");
}
