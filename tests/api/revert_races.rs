//! A revert racing an import of the same keys: each row ends either wholly restored (the
//! import's change then came after the revert's) or as a conflict of the revert that
//! keeps the import's change; never a row with some columns restored and others left at
//! the reverted job's values.
//!
//! A creates N opportunities; B changes four columns of each; then B's revert and an
//! import D that changes one of those columns (the name) of every row start at once. D
//! walks the file backwards while the revert walks the rows forwards, so they meet in
//! the middle: rows D reaches first are conflicts, rows the revert reaches first are
//! restored and then changed by D.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::Row as _;

use crate::helpers::{TestApp, spawn_app};

/// Rows of A: with the tests' three-row chunks, a few hundred chunks for each job.
const N: usize = 600;

/// A's file: every row's name, amount, close date, stage and next step.
fn file_a() -> String {
    let mut csv =
        String::from("Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Next Step\n");
    for i in 0..N {
        csv.push_str(&format!(
            "R-{i:04},Deal {i},{i}.50,2026-01-{:02},Prospecting,Call back\n",
            i % 28 + 1
        ));
    }
    csv
}

/// B's file: four columns of every row changed (Stage left alone).
fn file_b() -> String {
    let mut csv = String::from("Opportunity ID,Opportunity Name,Amount,Close Date,Next Step\n");
    for i in 0..N {
        csv.push_str(&format!(
            "R-{i:04},Deal {i} (B),{i}.75,2027-02-{:02},Send quote\n",
            i % 28 + 1
        ));
    }
    csv
}

/// D's file: one of B's columns (the name, which every file must have) of every row,
/// last row first.
fn file_d() -> String {
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    for i in (0..N).rev() {
        csv.push_str(&format!("R-{i:04},{}\n", d_name(i)));
    }
    csv
}

/// The name D gives row `i`.
fn d_name(i: usize) -> String {
    format!("Deal {i} (D)")
}

/// A stored row: the columns B changed besides the name, then the name, Stage and who
/// wrote it last.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    b_columns: (Option<String>, Option<String>, Option<String>),
    name: Option<String>,
    stage: Option<String>,
    version: i64,
    updated_by_job: Option<String>,
}

impl TestApp {
    /// Every opportunity by its Opportunity ID.
    async fn rows_by_id(&self) -> HashMap<String, Row> {
        let rows = sqlx::query(
            "SELECT external_opp_id, amount::text, close_date::text, next_step, name, stage,
                    version, updated_by_job::text
               FROM opportunities",
        )
        .fetch_all(&self.db)
        .await
        .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.get("external_opp_id"),
                    Row {
                        b_columns: (r.get("amount"), r.get("close_date"), r.get("next_step")),
                        name: r.get("name"),
                        stage: r.get("stage"),
                        version: r.get("version"),
                        updated_by_job: r.get("updated_by_job"),
                    },
                )
            })
            .collect()
    }

    /// The Opportunity IDs of a job's error CSV.
    async fn error_ids(&self, key: &str, job: &Value) -> HashSet<String> {
        let csv = self.error_csv(key, job).await;
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let column = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "Opportunity ID")
            .expect("an Opportunity ID column");
        reader
            .records()
            .map(|r| r.unwrap()[column].to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_racing_an_import_of_the_same_keys_never_half_restores_a_row() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let a = app.import(&key, "opportunities", "", file_a()).await;
    assert_eq!(a["created_rows"], N, "{a}");
    let after_a = app.rows_by_id().await;
    let b = app.import(&key, "opportunities", "", file_b()).await;
    assert_eq!(b["updated_rows"], N, "{b}");
    let after_b = app.rows_by_id().await;
    let b_id = b["id"].as_str().unwrap();

    // The revert and D start together; the in-process worker runs two jobs at once.
    let (revert, d) = tokio::join!(
        app.revert(&key, b_id, ""),
        app.upload_job(&key, "opportunities", "", file_d()),
    );
    let revert_body: Value = revert.json().await.unwrap();
    let revert_id = revert_body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the revert answered {revert_body}"))
        .to_owned();
    let (undo, d) = tokio::join!(
        app.wait_for_job(&key, &revert_id),
        app.wait_for_job(&key, &d)
    );
    assert_eq!(undo["state"], "completed", "{undo}");
    assert_eq!(d["state"], "completed", "{d}");
    assert_eq!(
        d["updated_rows"], N,
        "D changes every row, however B's revert went: {d}"
    );
    let d_id = d["id"].as_str().unwrap();

    let now = app.rows_by_id().await;
    assert_eq!(now.len(), N);
    let mut restored = HashSet::new();
    let mut kept = HashSet::new();
    for i in 0..N {
        let id = format!("R-{i:04}");
        let (row, a_row, b_row) = (&now[&id], &after_a[&id], &after_b[&id]);
        assert_eq!(
            row.name.as_deref(),
            Some(d_name(i).as_str()),
            "{id}: D's name stays whichever came first: {row:?}"
        );
        assert_eq!(row.stage, a_row.stage, "{id}: nobody changed Stage");
        assert_eq!(
            row.updated_by_job.as_deref(),
            Some(d_id),
            "{id}: D wrote last (a revert that came after D leaves the row alone): {row:?}"
        );
        if row.b_columns == a_row.b_columns {
            // A (1), B (2), the revert (3), then D (4).
            assert_eq!(row.version, 4, "{id}: restored, then D: {row:?}");
            restored.insert(id);
        } else {
            assert_eq!(
                row.b_columns, b_row.b_columns,
                "{id}: every column B changed is restored or none is"
            );
            // A (1), B (2), D (3): the revert did not write it.
            assert_eq!(row.version, 3, "{id}: D came first, a conflict: {row:?}");
            kept.insert(id);
        }
    }

    let counts = (
        undo["deleted_rows"].as_i64(),
        undo["restored_rows"].as_i64(),
        undo["conflict_rows"].as_i64(),
    );
    assert_eq!(
        counts,
        (
            Some(0),
            Some(restored.len() as i64),
            Some(kept.len() as i64)
        ),
        "the revert's counts are what the table shows: {undo}"
    );
    assert_eq!(undo["total_error_rows"], kept.len());
    if !kept.is_empty() {
        assert_eq!(
            app.error_ids(&key, &undo).await,
            kept,
            "each conflict is a row D changed before the revert reached it"
        );
    }
    println!(
        "revert racing D: {} rows restored before D changed them, {} conflicts",
        restored.len(),
        kept.len()
    );
}
