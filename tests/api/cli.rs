//! `keys create` through the real binary: the key it prints works against the API. (The
//! `import` command, which needs no API, is in `commands::import`.)

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
