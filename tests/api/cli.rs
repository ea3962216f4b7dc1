use std::process::Command;

use crate::helpers::{process_env, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_create_prints_a_working_key_as_the_last_line() {
    let app = spawn_app_with(|_| {}, false).await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_batch-import"))
            .args(args)
            .envs(process_env(&app.settings))
            .output()
            .unwrap()
    };
    let migrate = run(&["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let out = run(&[
        "keys",
        "create",
        "--tenant",
        "acme",
        "--email",
        "ops@acme.com",
        "--admin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_owned();
    let response = app
        .upload(
            &key,
            "opportunities",
            "",
            "a.csv",
            "Opportunity ID,Opportunity Name\nA,B\n",
        )
        .await;
    assert_eq!(response.status(), 202, "the new admin key uploads");

    // A second key for the same tenant and user works too; a non-admin key cannot upload.
    let rep = run(&[
        "keys",
        "create",
        "--tenant",
        "acme",
        "--email",
        "rep@acme.com",
    ]);
    let rep_key = String::from_utf8(rep.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        app.upload(&rep_key, "opportunities", "", "a.csv", "x")
            .await
            .status(),
        403
    );

    let bad = run(&[
        "keys",
        "create",
        "--tenant",
        "bad.slug",
        "--email",
        "ops@acme.com",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slug"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_runs_the_engine_on_a_file_and_prints_the_counts() {
    let app = spawn_app_with(|_| {}, false).await;
    let file = app.storage.path().join("direct.csv");
    std::fs::write(
        &file,
        "Opportunity ID,Opportunity Name,Amount\nD1,One,10\nD2,Two,ten\nD3,Three,\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_batch-import"))
            .args(args)
            .envs(process_env(&app.settings))
            .output()
            .unwrap()
    };
    let path = file.to_str().unwrap();
    let missing = run(&[
        "import",
        "--kind",
        "opportunities",
        "--tenant",
        "nobody",
        path,
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no tenant"));

    app.key("acme", "ops@acme.com", true).await;
    let out = run(&[
        "import",
        "--kind",
        "opportunities",
        "--tenant",
        "acme",
        path,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "total_original_rows=3",
        "total_imported_rows=2",
        "total_error_rows=1",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in {stdout}");
    }
    let errors = std::fs::read_to_string(format!("{path}.errors.csv")).unwrap();
    assert!(errors.contains("D2,Two,ten,3,"), "{errors}");
    let stored = app.stored_opportunities().await;
    assert_eq!(stored, 2);
}
