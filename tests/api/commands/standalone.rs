//! The binary needs nothing from the repository at run time: its defaults are compiled in,
//! so it runs from any folder and when installed with `cargo install --path .`.

use std::process::Command;

use crate::helpers::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_from_a_folder_without_config() {
    let app = spawn_app_with(|_| {}, false).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .arg("migrate")
        .current_dir(elsewhere.path())
        // Only the database comes from the environment; every other setting is a default.
        .env_remove("CONFIG_DIR")
        .env("DATABASE_URL", &app.settings.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(
        std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .is_none(),
        "nothing written to the working folder"
    );
}
