//! The SMTP server down while reports are due, then back. The rule (`send_report` in
//! `jobs/runner.rs`): a report is retried briefly and then given up; either it arrives
//! exactly once and the job says `email_sent_at`, or the job records `email_error`.

use std::time::Duration;

use uuid::Uuid;

use crate::{
    checks::{self, Ledger, emails_of},
    csv_files::opportunities,
    process::wait_until,
    scenario::{Options, Scenario},
    stack::Stack,
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
    // The proxy starts down: connections to it are refused.
    let mut s = Scenario::start(Options {
        workers: 2,
        smtp_proxy: true,
        ..Options::default()
    })
    .await;
    let mut ledger = Ledger::default();
    let file = |prefix| opportunities(prefix, 60, Some(20), None);

    // Down (connections refused) while three reports are due; back a moment later,
    // within or after their retries.
    let brief = [
        s.import(&mut ledger, file("B0")).await,
        s.import(&mut ledger, file("B1")).await,
        s.import(&mut ledger, file("B2")).await,
    ];
    checks::all_terminal_within(&mut s.stack, BOUND).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.proxy().up().await;

    // Down for longer than any retry: the report is given up and the job says why.
    let stack_ref = &s.stack;
    for job in brief {
        wait_until("the report's outcome", BOUND, || async move {
            let (sent, error) = email_outcome(stack_ref, job).await;
            (sent || error.is_some()).then_some(())
        })
        .await;
    }
    s.proxy().down();
    let long = s.import(&mut ledger, file("L")).await;
    wait_until("the report to be given up", BOUND, || async {
        let (sent, error) = email_outcome(&s.stack, long).await;
        assert!(!sent, "no report can be sent while SMTP is down");
        error.map(|_| ())
    })
    .await;
    assert_eq!(emails_of(&s.smtp, long), 0);

    // Back for good: the next report arrives once.
    s.proxy().up().await;
    let last = s.import(&mut ledger, file("A")).await;
    wait_until("the report after SMTP is back", BOUND, || async {
        email_outcome(&s.stack, last).await.0.then_some(())
    })
    .await;

    for job in brief.into_iter().chain([long, last]) {
        let (sent, error) = email_outcome(&s.stack, job).await;
        let received = emails_of(&s.smtp, job);
        assert!(
            (sent && error.is_none() && received == 1)
                || (!sent && error.is_some() && received == 0),
            "job {job}: sent {sent}, email_error {error:?}, {received} emails received"
        );
    }
    s.nothing_lost(&ledger, BOUND).await;
}
