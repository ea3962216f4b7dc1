//! What more than one of batch-import's test binaries (tests/api, tests/faults) or the
//! lib's unit tests (src/import/proptests/) use: real servers the service talks to, and
//! hostile and generated inputs.
//!
//! It does not depend on `batch-import` (see Cargo.toml): what needs the lib's types, such
//! as `spawn_app`, lives in the test binary that uses it.

use std::path::Path;

pub mod fuzz_inputs;
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
