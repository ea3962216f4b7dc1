//! What every scenario checks once its fault is over: every job terminal within a bound,
//! counts exact, no row twice, at most one email per job, no file left behind.

use std::{collections::BTreeSet, time::Duration};

use batch_import_test_support::SmtpServer;
use uuid::Uuid;

use crate::{
    csv_files::OppFile,
    stack::{Stack, file_names},
};

/// A job that must end `completed` with these counts.
pub struct Expected {
    /// The job.
    pub job: Uuid,
    /// Data rows of its file.
    pub rows: i64,
    /// Error rows among them.
    pub errors: i64,
}

/// What a scenario uploaded and what that must leave in the database.
#[derive(Default)]
pub struct Ledger {
    /// The jobs and their counts.
    pub expected: Vec<Expected>,
    /// The Opportunity IDs the database must hold in the end (one tenant per scenario).
    pub stored: BTreeSet<String>,
}

impl Ledger {
    /// Records that `job` imports `file`.
    pub fn add(&mut self, job: Uuid, file: OppFile) {
        self.expected.push(Expected {
            job,
            rows: file.rows,
            errors: file.errors,
        });
        self.stored.extend(file.ids);
    }
}

/// Runs every check of what `ledger` recorded; workers that exit on their own are
/// restarted meanwhile, as a supervisor would.
pub async fn nothing_lost(stack: &mut Stack, smtp: &SmtpServer, ledger: &Ledger, bound: Duration) {
    let (expected, stored) = (&ledger.expected, &ledger.stored);
    all_terminal_within(stack, bound).await;
    counts_exact(stack, expected).await;
    no_row_twice(stack).await;
    let ids: BTreeSet<String> = sqlx::query_scalar("SELECT external_opp_id FROM opportunities")
        .fetch_all(&stack.db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        ids.len(),
        stored.len(),
        "stored opportunities: {} instead of {}",
        ids.len(),
        stored.len()
    );
    assert!(
        &ids == stored,
        "the stored opportunities are the files' good rows"
    );
    at_most_one_email_per_job(stack, smtp).await;
    no_file_left(stack).await;
}

/// Every job of the database is `completed`, `failed` or `cancelled` within `bound`.
pub async fn all_terminal_within(stack: &mut Stack, bound: Duration) {
    let deadline = std::time::Instant::now() + bound;
    loop {
        stack.supervise();
        let open: Vec<(Uuid, String, i32)> = sqlx::query_as(
            "SELECT id, state, attempts FROM import_jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_all(&stack.db)
        .await
        .unwrap_or_else(|e| vec![(Uuid::nil(), format!("unreadable: {e}"), 0)]);
        if open.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs not terminal after {bound:?} (id, state, attempts): {open:?}\n{}",
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each expected job completed with exactly its file's counts.
pub async fn counts_exact(stack: &Stack, expected: &[Expected]) {
    for e in expected {
        let (state, original, imported, errors, error): (
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT state, total_original_rows, total_imported_rows, total_error_rows, error \
             FROM import_jobs WHERE id = $1",
        )
        .bind(e.job)
        .fetch_one(&stack.db)
        .await
        .unwrap();
        assert_eq!(
            (state.as_str(), original, imported, errors),
            (
                "completed",
                Some(e.rows),
                Some(e.rows - e.errors),
                Some(e.errors)
            ),
            "job {} (state, original, imported, errors); error: {error:?}",
            e.job
        );
    }
}

/// No tenant holds a key twice, whatever the unique indexes say.
pub async fn no_row_twice(stack: &Stack) {
    for (table, key) in [
        ("opportunities", "external_opp_id"),
        ("contacts", "lower(email)"),
        ("sales_targets", "(lower(rep_email), month)"),
    ] {
        let twice: Vec<(Uuid, i64, i64)> = sqlx::query_as(&format!(
            "SELECT tenant_id, count(*), count(DISTINCT {key}) FROM {table} \
             GROUP BY tenant_id HAVING count(*) <> count(DISTINCT {key})"
        ))
        .fetch_all(&stack.db)
        .await
        .unwrap();
        assert!(twice.is_empty(), "{table} holds keys twice: {twice:?}");
    }
}

/// How many received messages are the report of `job` (its body names the job).
pub fn emails_of(smtp: &SmtpServer, job: Uuid) -> usize {
    let needle = format!("Job: {job}");
    smtp.messages()
        .iter()
        .filter(|m| {
            m.parsed()
                .body_text(0)
                .is_some_and(|text| text.contains(&needle))
        })
        .count()
}

/// No job's report arrived twice; a job that says its report was sent has exactly one.
pub async fn at_most_one_email_per_job(stack: &Stack, smtp: &SmtpServer) {
    let jobs: Vec<(Uuid, bool)> =
        sqlx::query_as("SELECT id, email_sent_at IS NOT NULL FROM import_jobs")
            .fetch_all(&stack.db)
            .await
            .unwrap();
    for (job, sent) in jobs {
        let received = emails_of(smtp, job);
        assert!(received <= 1, "job {job}: {received} report emails");
        if sent {
            assert_eq!(received, 1, "job {job} says its report was sent");
        }
    }
}

/// Within a few seconds (a finished run removes its upload after its report is sent):
/// no `.part` file and no upload of a terminal job in `STORAGE_DIR/uploads`.
pub async fn no_file_left(stack: &Stack) {
    let terminal: BTreeSet<String> = sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM import_jobs WHERE state IN ('completed', 'failed', 'cancelled')",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap()
    .into_iter()
    .map(|id| id.to_string())
    .collect();
    let uploads = stack.uploads();
    let left = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|name| {
                let stem = name.split('.').next().unwrap_or_default();
                name.ends_with(".part") || terminal.contains(stem)
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let remaining = left(file_names(&uploads));
        if remaining.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "files left behind in {}: {remaining:?}",
            uploads.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
