//! Passwords in the connection URLs never reach a log line, even at `RUST_LOG=trace`.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{process_env, spawn_app_with};

/// `url` with a password: its own when it has one (the server may need it), else `fallback`
/// (the test servers ignore it: Postgres trusts, Redis' default user takes any password).
fn with_password(raw: &str, user: &str, fallback: &str) -> (String, String) {
    let mut url = url::Url::parse(raw).unwrap();
    if let Some(password) = url.password() {
        return (raw.to_owned(), password.to_owned());
    }
    if url.username().is_empty() {
        url.set_username(user).unwrap();
    }
    url.set_password(Some(fallback)).unwrap();
    (url.to_string(), fallback.to_owned())
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_shows_a_password() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let (database_url, pg_secret) =
        with_password(&app.settings.database_url, "postgres", "pg-s3cret-4711");
    let (redis_url, redis_secret) =
        with_password(&app.settings.redis_url, "default", "redis-s3cret-4711");
    let (smtp_url, smtp_secret) =
        with_password(&app.settings.smtp_url, "mailer", "smtp-s3cret-4711");
    let logs = tempfile::tempdir().unwrap();
    let (out, err) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let command = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_batch-import"));
        command
            .args(args)
            .envs(process_env(&app.settings))
            .env("DATABASE_URL", &database_url)
            .env("REDIS_URL", &redis_url)
            .env("SMTP_URL", &smtp_url)
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        command
    };

    let migrate = command(&["migrate"]).status().unwrap();
    assert!(migrate.success(), "{}", read(&err));
    let mut log = read(&out) + &read(&err);

    // A worker that starts, runs a job with failed rows and tries to email the report.
    let mut worker = command(&["work"]).spawn().unwrap();
    let id = app
        .upload_job(
            &key,
            "opportunities",
            "send_error_email=true",
            "Opportunity ID,Opportunity Name,Amount\nS1,One,10\nS2,Two,ten\n",
        )
        .await;
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed", "{job}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while job_email_pending(&app, &id).await {
        assert!(Instant::now() < deadline, "the report was never tried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    worker.wait().unwrap();
    log += &(read(&out) + &read(&err));

    assert!(log.contains("worker registered"), "the log was captured");
    for secret in [&pg_secret, &redis_secret, &smtp_secret] {
        assert!(!log.contains(secret.as_str()), "{secret} is in the log");
    }
}

/// True until the worker has sent the job's report or recorded why it could not.
async fn job_email_pending(app: &crate::helpers::TestApp, id: &str) -> bool {
    let (sent, error): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) =
        sqlx::query_as("SELECT email_sent_at, email_error FROM import_jobs WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    sent.is_none() && error.is_none()
}
