//! The `import` command: the engine on a file, straight into the tenant's data, with the
//! counts on stdout and the failed rows next to the file.

use std::process::Command;

use crate::helpers::{process_env, spawn_app_with};

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
