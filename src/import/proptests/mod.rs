//! Property tests (proptest) of the reader, the header resolver, the value parsers and the
//! workbook reader, on arbitrary bytes and strings and on mutated seed files: nothing
//! panics, every refusal says why in words, and every record of a file is read exactly
//! once.
//!
//! Each property runs a modest number of cases so that the set stays fast in debug
//! builds; `PROPTEST_CASES=N` raises every property to N cases. Inputs that once failed
//! are kept as plain `#[test]`s next to the property they broke.

mod header;
mod reader;
mod values;
mod workbook;

// Seed files, mutations and the reference reader, shared with tests/api/fuzz.rs.
use batch_import_test_support::fuzz_inputs as inputs;

use proptest::test_runner::Config;

/// `cases` cases, unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        ..Config::default()
    }
}
