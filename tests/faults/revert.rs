//! A revert cut short: its worker killed (SIGKILL) mid-way, or a cancel mid-way. Either
//! way what it committed stays, and what is left is done once: by the next run of the
//! same revert job (a killed worker), or by a revert asked for again (a cancel). The end
//! is the table an uninterrupted revert gives, with its counts.
//!
//! A creates 2,000 opportunities; B changes 1,500 of them and creates 500; C changes 20
//! of B's again (the revert's conflicts). With 50-row chunks B's revert deletes in 10
//! chunks and restores in 30; the test locks a row B changed half-way through those, so
//! that the revert waits there with 15 restoring chunks committed.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;
use uuid::Uuid;

use crate::{
    checks,
    csv_files::{self, opportunities},
    process::wait_until,
    scenario::{Options, Scenario},
};

/// Every job is terminal within this bound.
const BOUND: Duration = Duration::from_secs(50);
/// Rows of A.
const A_ROWS: usize = 2000;
/// Rows of A that B changes (the first ones); B creates `CREATED` more.
const CHANGED: usize = 1500;
const CREATED: usize = 500;
/// B's changed rows that C changes again (the first ones): the revert's conflicts.
const CONFLICTS: usize = 20;
/// The `IMPORT_CHUNK_ROWS` of the stack (see `stack.rs`): the revert's chunk size.
const CHUNK: usize = 50;
/// The row B changed (by id, which is the order a revert restores in) that the test locks.
const HELD_AT: usize = CHANGED / 2;

/// A stored opportunity as text: id, name, amount, close date, stage.
type Snapshot = Vec<Vec<Option<String>>>;

/// What the revert scenarios start from: A, B and C imported.
struct Imported {
    b: Uuid,
    /// The table an uninterrupted revert of B leaves: A's rows, C's where C changed them.
    expected: Snapshot,
    /// The table before the revert.
    after_c: Snapshot,
}

async fn snapshot(s: &Scenario) -> Snapshot {
    sqlx::query_scalar(
        "SELECT ARRAY[external_opp_id, name, amount::text, close_date::text, stage]
           FROM opportunities ORDER BY external_opp_id",
    )
    .fetch_all(&s.stack.db)
    .await
    .unwrap()
}

/// Uploads `csv` as opportunities and waits for it (asserting `completed`).
async fn import(s: &mut Scenario, csv: String) -> Uuid {
    let job = s.stack.upload_job(&s.key, "opportunities", "", csv).await;
    checks::all_terminal_within(&mut s.stack, BOUND).await;
    let state = s.stack.job_state(job).await.unwrap().0;
    assert_eq!(state, "completed", "import {job}\n{}", s.stack.logs());
    job
}

async fn import_a_b_c(s: &mut Scenario) -> Imported {
    import(s, opportunities("U", A_ROWS, None, None).csv).await;
    let after_a = snapshot(s).await;
    let mut b = String::from("Opportunity ID,Opportunity Name,Amount,Stage\n");
    for i in 0..CHANGED {
        b.push_str(&format!("U-{i},\"Deal {i}, B\",{i}.75,Negotiation\n"));
    }
    for i in 0..CREATED {
        b.push_str(&format!("NEW-{i},New {i},1,Prospecting\n"));
    }
    let b = import(s, b).await;
    // The name (every file has one) as B left it; only the stage changes.
    let mut c = String::from("Opportunity ID,Opportunity Name,Stage\n");
    for i in 0..CONFLICTS {
        c.push_str(&format!("U-{i},\"Deal {i}, B\",Closed Won\n"));
    }
    import(s, c).await;
    let after_c = snapshot(s).await;
    let c_rows: HashMap<&Option<String>, &Vec<Option<String>>> =
        after_c.iter().map(|row| (&row[0], row)).collect();
    let expected = after_a
        .iter()
        .map(|row| {
            let key = row[0].as_deref().unwrap();
            let n: usize = key.trim_start_matches("U-").parse().unwrap();
            match n < CONFLICTS {
                true => c_rows[&row[0]].clone(),
                false => row.clone(),
            }
        })
        .collect();
    Imported {
        b,
        expected,
        after_c,
    }
}

/// Locks the row B changed at `HELD_AT` in id order: B's revert waits there.
async fn hold_half_way(s: &Scenario, b: Uuid) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let held: String = sqlx::query_scalar(
        "SELECT o.external_opp_id
           FROM import_change_sets s CROSS JOIN unnest(s.row_ids) AS r(id)
           JOIN opportunities o ON o.id = r.id
          WHERE s.job_id = $1 ORDER BY r.id OFFSET $2 LIMIT 1",
    )
    .bind(b)
    .bind(HELD_AT as i64)
    .fetch_one(&s.stack.db)
    .await
    .unwrap();
    csv_files::hold(&s.stack.db, &[held.as_str()]).await
}

/// `POST {path}` with the scenario's key; the status and the body.
async fn post(s: &Scenario, path: &str) -> (u16, Value) {
    let response = s
        .stack
        .http
        .post(format!("{}{path}", s.stack.address))
        .header("Authorization", &s.key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asks for B's revert (asserting `202`); returns the revert job.
async fn revert(s: &Scenario, b: Uuid) -> Uuid {
    let (status, body) = post(s, &format!("/api/v1/jobs/{b}/revert")).await;
    assert_eq!(status, 202, "the revert answered {body}");
    body["data"]["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the revert has committed every chunk before the held row and waits on
/// it: B's created rows deleted, `HELD_AT` of its changed rows restored or conflicts.
async fn wait_at_the_held_row(s: &Scenario, job: Uuid) {
    let before_hold = (CREATED + HELD_AT) as i64;
    wait_until(
        &format!("revert {job} to reach the held row\n{}", s.stack.logs()),
        Duration::from_secs(30),
        || async move {
            let (state, rows) = s.stack.job_state(job).await?;
            assert!(
                state == "queued" || state == "running",
                "revert {job} ended ({state}) before it could be cut short"
            );
            assert!(rows <= before_hold, "revert {job} passed the held row");
            (rows == before_hold).then_some(())
        },
    )
    .await;
}

/// A job's `data`.
async fn job(s: &Scenario, id: Uuid) -> Value {
    let (status, body) = s.stack.get(&s.key, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// A revert job's `(deleted, restored, conflicts)`.
fn counts(job: &Value) -> (i64, i64, i64) {
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

/// How many of B's kept changes `revert` marked, as `(created, changed)`.
async fn marked_by(s: &Scenario, b: Uuid, revert: Option<Uuid>) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created)
           FROM import_changes WHERE job_id = $1 AND reverted_by IS NOT DISTINCT FROM $2",
    )
    .bind(b)
    .bind(revert)
    .fetch_one(&s.stack.db)
    .await
    .unwrap()
}

/// How many of the rows B changed that `revert` marked were written exactly once after
/// B's write, by `revert`: restored once, whatever runs it took.
async fn restored_once_by(s: &Scenario, b: Uuid, revert: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM import_changes i JOIN opportunities o ON o.id = i.row_id
          WHERE i.job_id = $1 AND NOT i.created AND i.reverted_by = $2
            AND o.version = i.version + 1 AND o.updated_by_job = $2",
    )
    .bind(b)
    .bind(revert)
    .fetch_one(&s.stack.db)
    .await
    .unwrap()
}

/// The data rows of a job's error CSV.
async fn error_rows(s: &Scenario, job: &Value) -> usize {
    let url = job["error_file"].as_str().expect("an error file");
    let response = s
        .stack
        .http
        .get(url)
        .header("Authorization", &s.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    csv::Reader::from_reader(&bytes[..]).records().count()
}

/// Conflicts (C's rows) are listed once, as `changed_since` failed rows.
async fn conflicts_listed_once(s: &Scenario, job: &Value) {
    assert_eq!(job["total_error_rows"], CONFLICTS, "{job}");
    assert_eq!(error_rows(s, job).await, CONFLICTS, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_whose_worker_is_killed_mid_way_ends_as_an_uninterrupted_one() {
    let mut s = Scenario::start(Options::default()).await;
    let imported = import_a_b_c(&mut s).await;
    let b = imported.b;
    let hold = hold_half_way(&s, b).await;
    let undo = revert(&s, b).await;
    wait_at_the_held_row(&s, undo).await;

    // kill -9 while the revert waits inside a chunk: the chunks before it are committed
    // and marked, the one it is in is not.
    s.stack.kill_worker(0);
    let (deleted, restored) = marked_by(&s, b, Some(undo)).await;
    assert_eq!(
        deleted, CREATED as i64,
        "B's created rows were deleted first"
    );
    assert!(
        restored > 0 && restored <= HELD_AT as i64,
        "{restored} rows restored when the worker died"
    );
    hold.commit().await.unwrap();

    // A new worker takes the revert up again once the dead run's lease lapses.
    s.stack.start_worker();
    checks::all_terminal_within(&mut s.stack, BOUND).await;
    let done = job(&s, undo).await;
    assert_eq!(done["state"], "completed", "{done}\n{}", s.stack.logs());
    let runs: i32 = sqlx::query_scalar("SELECT attempts FROM import_jobs WHERE id = $1")
        .bind(undo)
        .fetch_one(&s.stack.db)
        .await
        .unwrap();
    assert!(runs >= 2, "the kill cut a run short ({runs} runs)");
    let whole = (
        CREATED as i64,
        (CHANGED - CONFLICTS) as i64,
        CONFLICTS as i64,
    );
    assert_eq!(counts(&done), whole, "an uninterrupted revert's counts");
    conflicts_listed_once(&s, &done).await;
    assert_eq!(snapshot(&s).await, imported.expected);

    // Every image is marked by this revert, once; each restored row was written once.
    assert_eq!(
        marked_by(&s, b, Some(undo)).await,
        (CREATED as i64, (CHANGED - CONFLICTS) as i64)
    );
    assert_eq!(marked_by(&s, b, None).await, (0, CONFLICTS as i64));
    assert_eq!(
        restored_once_by(&s, b, undo).await,
        (CHANGED - CONFLICTS) as i64
    );
    checks::no_row_twice(&s.stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_cancelled_mid_way_keeps_its_work_and_a_new_revert_does_the_rest() {
    let mut s = Scenario::start(Options::default()).await;
    let imported = import_a_b_c(&mut s).await;
    let b = imported.b;
    let hold = hold_half_way(&s, b).await;
    let first = revert(&s, b).await;
    wait_at_the_held_row(&s, first).await;

    let (status, body) = post(&s, &format!("/api/v1/jobs/{first}/cancel")).await;
    assert_eq!(status, 202, "cancel answered {body}");
    // The chunk it waits in commits, then it stops at the chunk boundary.
    hold.commit().await.unwrap();
    checks::all_terminal_within(&mut s.stack, BOUND).await;
    let cancelled = job(&s, first).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let (deleted, restored, conflicts) = counts(&cancelled);
    assert_eq!(
        (deleted, restored + conflicts),
        (CREATED as i64, (HELD_AT + CHUNK) as i64),
        "it stopped after the chunk it waited in: {cancelled}"
    );
    assert_eq!(
        marked_by(&s, b, Some(first)).await,
        (deleted, restored),
        "its counts are what it marked"
    );

    // What it did stays: B's new rows are gone, the rows it restored have A's values,
    // the others B's (or C's).
    let now = snapshot(&s).await;
    assert_eq!(now.len(), A_ROWS, "B's created rows are deleted");
    let restored_ids: Vec<String> = sqlx::query_scalar(
        "SELECT o.external_opp_id FROM import_changes i JOIN opportunities o ON o.id = i.row_id
          WHERE i.job_id = $1 AND NOT i.created AND i.reverted_by = $2",
    )
    .bind(b)
    .bind(first)
    .fetch_all(&s.stack.db)
    .await
    .unwrap();
    let restored_ids: std::collections::HashSet<String> = restored_ids.into_iter().collect();
    let before: HashMap<&Option<String>, &Vec<Option<String>>> =
        imported.after_c.iter().map(|row| (&row[0], row)).collect();
    for (row, whole) in now.iter().zip(&imported.expected) {
        let id = row[0].clone().unwrap();
        let want = match restored_ids.contains(&id) {
            true => whole,
            false => before[&row[0]],
        };
        assert_eq!(row, want, "{id}");
    }

    // Asked for again, the revert does the rest and counts only that.
    let second = revert(&s, b).await;
    checks::all_terminal_within(&mut s.stack, BOUND).await;
    let done = job(&s, second).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(
        counts(&done),
        (0, (CHANGED - CONFLICTS) as i64 - restored, CONFLICTS as i64),
        "the rest, and every conflict (they are left, so looked at again): {done}"
    );
    conflicts_listed_once(&s, &done).await;
    assert_eq!(snapshot(&s).await, imported.expected, "a whole revert");
    assert_eq!(
        marked_by(&s, b, Some(second)).await,
        (0, (CHANGED - CONFLICTS) as i64 - restored)
    );
    assert_eq!(marked_by(&s, b, None).await, (0, CONFLICTS as i64));
    assert_eq!(
        restored_once_by(&s, b, first).await + restored_once_by(&s, b, second).await,
        (CHANGED - CONFLICTS) as i64
    );
    assert_eq!(job(&s, b).await["reverted_by_job_id"], second.to_string());
}
