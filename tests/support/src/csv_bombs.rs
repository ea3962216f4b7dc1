//! CSV files made to cost far more than their size, built here from scratch: each is what
//! a hostile tenant admin could upload within the 20 MB limit. Used by the hostile-input
//! suite (tests/faults/hostile) and the benchmark; the workbook bombs are [`crate::workbook_bombs`].

/// The opportunities header every CSV bomb starts with.
const HEADER: &str = "Opportunity ID,Opportunity Name,Amount";

/// A header of `columns` columns (two million: a 17 MB line) and a few rows.
pub fn csv_wide_header(columns: usize) -> Vec<u8> {
    let mut csv = String::from(HEADER);
    for i in 3..columns {
        csv.push_str(&format!(",c{i}"));
    }
    csv.push_str("\nW-1,Wide,1\n");
    csv.into_bytes()
}

/// 16,384 columns (the most allowed) and rows of 16,384 one-letter fields up to ~19 MB:
/// every field of every row is held while the row waits in its chunk.
pub fn csv_widest_rows() -> (Vec<u8>, usize) {
    let columns = 16_384;
    let mut csv = String::from(HEADER);
    for i in 3..columns {
        csv.push_str(&format!(",c{i}"));
    }
    csv.push('\n');
    let tail = vec!["a"; columns - 3].join(",");
    let mut rows = 0;
    while csv.len() < 19_000_000 {
        csv.push_str(&format!("WR-{rows},Row {rows},1,{tail}\n"));
        rows += 1;
    }
    (csv.into_bytes(), rows)
}

/// One field of `bytes` bytes between two good rows.
pub fn csv_huge_field(bytes: usize) -> Vec<u8> {
    let mut csv = format!("{HEADER}\nHF-1,Before,1\nHF-2,\"");
    csv.push_str(&"x".repeat(bytes));
    csv.push_str("\",2\nHF-3,After,3\n");
    csv.into_bytes()
}

/// A quote opened and never closed on row 2: the rest of the file is one field.
pub fn csv_unclosed_quote(rows: usize) -> Vec<u8> {
    let mut csv = format!("{HEADER}\nUQ-0,Fine,1\n\"UQ-1");
    for i in 2..rows {
        csv.push_str(&format!(",Row {i},1\nUQ-{i}"));
    }
    csv.push('\n');
    csv.into_bytes()
}

/// Rows of 600,000 fields each (1.2 MB), far more than the header's three.
pub fn csv_ragged_rows() -> (Vec<u8>, usize) {
    let mut csv = format!("{HEADER}\n");
    let tail = vec!["b"; 600_000].join(",");
    let mut rows = 0;
    while csv.len() < 19_000_000 {
        csv.push_str(&format!("RR-{rows},n,1,{tail}\n"));
        rows += 1;
    }
    (csv.into_bytes(), rows)
}

/// `rows` rows of one letter: millions of failed rows, one error line each.
pub fn csv_deep(rows: usize) -> Vec<u8> {
    let mut csv = format!("{HEADER}\n");
    csv.push_str(&"a\n".repeat(rows));
    csv.into_bytes()
}
