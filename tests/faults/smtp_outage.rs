//! The SMTP server down while reports are due, then back. The rule (`send_report` in
//! `jobs/runner.rs`): a report is retried briefly and then given up; either it arrives
//! exactly once and the job says `email_sent_at`, or the job records `email_error`.

use std::{collections::BTreeSet, time::Duration};

use uuid::Uuid;

use crate::{
    checks::{self, Expected, emails_of},
    csv_files::opportunities,
    process::{serial, wait_until},
    proxy::Proxy,
    redis::RedisServer,
    smtp::SmtpServer,
    stack::{Services, Stack, shared_database_url},
};

const BOUND: Duration = Duration::from_secs(45);

/// `(email_sent_at set, email_error)` of a job.
async fn email_outcome(stack: &Stack, job: Uuid) -> (bool, Option<String>) {
    sqlx::query_as("SELECT email_sent_at IS NOT NULL, email_error FROM import_jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&stack.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_back_sends_each_report_once_or_records_why_not() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let proxy = Proxy::new(smtp.port);
    let scratch = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(scratch.path().join("redis")).await;
    let mut stack = Stack::new(
        Services {
            database_url: shared_database_url(),
            redis_url: redis.url(),
            smtp_url: format!("smtp://127.0.0.1:{}", proxy.port),
            storage_dir: None,
        },
        &[],
    )
    .await;
    stack.start_api().await;
    stack.start_worker();
    stack.start_worker();
    let key = stack.admin_key();
    let mut expected = Vec::new();
    let mut stored = BTreeSet::new();
    let mut upload = async |stack: &Stack, prefix: &str| {
        let file = opportunities(prefix, 60, Some(20), None);
        let job = stack
            .upload_job(&key, "opportunities", "send_error_email=true", file.csv)
            .await;
        expected.push(Expected {
            job,
            rows: file.rows,
            errors: file.errors,
        });
        stored.extend(file.ids);
        job
    };

    // Down (connections refused) while three reports are due; back a moment later,
    // within or after their retries.
    let brief = [
        upload(&stack, "B0").await,
        upload(&stack, "B1").await,
        upload(&stack, "B2").await,
    ];
    checks::all_terminal_within(&mut stack, BOUND).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.up().await;

    // Down for longer than any retry: the report is given up and the job says why.
    let stack_ref = &stack;
    for job in brief {
        wait_until("the report's outcome", BOUND, || async move {
            let (sent, error) = email_outcome(stack_ref, job).await;
            (sent || error.is_some()).then_some(())
        })
        .await;
    }
    proxy.down();
    let long = upload(&stack, "L").await;
    wait_until("the report to be given up", BOUND, || async {
        let (sent, error) = email_outcome(&stack, long).await;
        assert!(!sent, "no report can be sent while SMTP is down");
        error.map(|_| ())
    })
    .await;
    assert_eq!(emails_of(&smtp, long), 0);

    // Back for good: the next report arrives once.
    proxy.up().await;
    let last = upload(&stack, "A").await;
    wait_until("the report after SMTP is back", BOUND, || async {
        email_outcome(&stack, last).await.0.then_some(())
    })
    .await;

    for job in brief.into_iter().chain([long, last]) {
        let (sent, error) = email_outcome(&stack, job).await;
        let received = emails_of(&smtp, job);
        assert!(
            (sent && error.is_none() && received == 1)
                || (!sent && error.is_some() && received == 0),
            "job {job}: sent {sent}, email_error {error:?}, {received} emails received"
        );
    }
    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
}
