//! Not part of any test binary: the benchmark's `benches/support/hostile.rs` includes this
//! path with `#[path]`. The workbook bombs live in the test-support crate
//! (`tests/support/src/workbook_bombs.rs`); once the benchmark uses
//! `batch_import_test_support::workbook_bombs` directly, delete this file.

pub use batch_import_test_support::workbook_bombs::*;
