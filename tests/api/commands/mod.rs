//! The server binary's commands that work on the database alone, run as processes against
//! the test's database and checked there: `import` (the engine on a file), `keys list`,
//! and `migrate` from a folder without the repository. No HTTP: the commands whose effect
//! is checked through the API (`keys create`, `keys revoke`) are in `cli` and `keys`.

mod import;
mod keys_list;
mod standalone;

use std::process::{Command, Output};

use crate::helpers::{TestApp, process_env};

/// Runs `batch-import ARGS` with the test's settings in its environment.
pub fn run(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .args(args)
        .envs(process_env(&app.settings))
        .output()
        .unwrap()
}

/// The command's stdout, asserting that it succeeded.
pub fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}
