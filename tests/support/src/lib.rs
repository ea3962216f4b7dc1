//! What more than one of batch-import's test binaries (tests/api, tests/faults,
//! tests/deploy) or the lib's unit tests (src/import/proptests/) use: real servers the
//! service talks to, hostile and generated inputs, and readers of the repository's
//! deployment files.
//!
//! It does not depend on `batch-import` (see Cargo.toml): what needs the lib's types, such
//! as `spawn_app`, lives in the test binary that uses it.

use std::path::Path;

pub mod csv_bombs;
pub mod fuzz_inputs;
pub mod kubernetes;
pub mod moto;
pub mod smtp;
pub mod workbook_bombs;

pub use moto::MotoServer;
pub use smtp::{ReceivedMail, SmtpServer};

/// The repository's root directory (this crate is `tests/support`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support lies two levels below the repository's root")
}

/// A file of the repository as text.
pub fn repo_file(path: &str) -> String {
    let full = repo_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A YAML file of the repository (one document).
pub fn yaml(path: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A scalar as the text a container sees in its environment.
pub fn scalar(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other).unwrap().trim().to_owned(),
    }
}
