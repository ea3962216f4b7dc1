//! The hostile-input suite's files (`tests/faults/hostile/bombs.rs`, the same builders),
//! written to disk for the benchmark, which reports the engine's peak memory on each next
//! to the ordinary 20 MB runs.

use std::path::{Path, PathBuf};

#[path = "../../tests/faults/hostile/bombs.rs"]
mod bombs;

/// Writes every bomb into `dir`; returns (what it is, its path).
pub fn write_all(dir: &Path, ods_fixture: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let ods = std::fs::read(ods_fixture)?;
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "2,000,000 columns",
            "wide.csv",
            bombs::csv_wide_header(2_000_000),
        ),
        (
            "16,384 columns in every row",
            "widest.csv",
            bombs::csv_widest_rows().0,
        ),
        (
            "one 18 MB field",
            "field.csv",
            bombs::csv_huge_field(18_000_000),
        ),
        (
            "a quote never closed",
            "quote.csv",
            bombs::csv_unclosed_quote(400_000),
        ),
        (
            "600,000 fields a row",
            "ragged.csv",
            bombs::csv_ragged_rows().0,
        ),
        (
            "9,000,000 one-letter rows",
            "deep.csv",
            bombs::csv_deep(9_000_000),
        ),
        (
            "shared strings claiming 10^12",
            "claim.xlsx",
            bombs::xlsx_shared_strings_claim(),
        ),
        (
            "sheet inflating to 600 MB",
            "inflated.xlsx",
            bombs::xlsx_inflated_sheet(600),
        ),
        (
            "cells past Excel's limits",
            "far.xlsx",
            bombs::xlsx_far_cells(),
        ),
        (
            "100,000 zip entries",
            "entries.xlsx",
            bombs::xlsx_many_entries(100_000),
        ),
        (
            ".ods cell repeated 9×10^7 times",
            "repeat.ods",
            bombs::ods_repeated_cell(&ods, 9_000, 10_000),
        ),
    ];
    files
        .into_iter()
        .map(|(what, name, bytes)| {
            let path = dir.join(format!("hostile-{name}"));
            std::fs::write(&path, bytes)?;
            Ok((what.to_owned(), path))
        })
        .collect()
}
