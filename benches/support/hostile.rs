//! The hostile-input suite's files (`batch_import_test_support::{csv_bombs, workbook_bombs}`,
//! the same builders), written to disk for the benchmark, which
//! reports the engine's and the worker's peak memory on each next to the ordinary 20 MB runs.

use std::path::{Path, PathBuf};

use batch_import_test_support::{csv_bombs as bombs, workbook_bombs};

/// Writes every bomb into `dir`; returns (what it is, its path).
pub fn write_all(dir: &Path, xls_fixture: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    use workbook_bombs as wb;
    let xls = std::fs::read(xls_fixture)?;
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
            wb::shared_strings_bomb(),
        ),
        (
            "sheet inflating to 600 MB",
            "inflated.xlsx",
            wb::inflated_sheet_xlsx(600),
        ),
        ("16 MB sheet packed 1000:1", "zip.xlsx", wb::zip_bomb_xlsx()),
        (
            "zip header that lies",
            "lying.xlsx",
            wb::lying_header_xlsx(),
        ),
        (
            "dimension past Excel's",
            "far.xlsx",
            wb::huge_dimension_xlsx(),
        ),
        (
            "100,000 zip entries",
            "entries.xlsx",
            wb::many_entries_xlsx(100_000),
        ),
        (
            ".ods cell repeated 9×10^7 times",
            "repeat.ods",
            wb::ods_repeat_bomb(),
        ),
        (
            "10^10 spaces in an .ods cell",
            "spaces.ods",
            wb::ods_spaces_bomb(),
        ),
        (
            ".xls cell at row/column 65,536",
            "corners.xls",
            wb::xls_corners_bomb(&xls),
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
