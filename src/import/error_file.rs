//! The error CSV: the original columns of each failed row, then `Line` and `Error`.
//!
//! The file is meant to be opened in a spreadsheet, so every cell that a spreadsheet would
//! run as a formula is neutralised (OWASP "CSV injection"): see [`neutralise`].

use std::{
    borrow::Cow,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use csv::StringRecord;

use crate::domain::Problem;

/// A row that could not be imported.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    /// The row's fields as read from the upload.
    pub record: StringRecord,
    /// The physical line in the upload where the row starts (the header is line 1).
    pub line: u64,
    /// Every problem of the row; their messages are in words a sales admin understands.
    pub problems: Vec<Problem>,
}

impl RejectedRow {
    /// The row's cells as read (untrimmed) under their header names, in header order;
    /// `None` for a column the row has no cell for.
    pub(crate) fn values<'a>(
        &'a self,
        header: &'a [String],
    ) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), self.record.get(i)))
    }

    /// The cells beyond the header's `width`, up to the last non-empty one (trailing
    /// empty cells are what spreadsheets add, not data).
    pub(crate) fn extra_values(&self, width: usize) -> Vec<&str> {
        let cells: Vec<&str> = self.record.iter().skip(width).collect();
        let keep = cells
            .iter()
            .rposition(|cell| !cell.trim().is_empty())
            .map_or(0, |last| last + 1);
        cells[..keep].to_vec()
    }

    /// The text of the error CSV's `Error` cell: every problem's message.
    pub(crate) fn message(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Writes the error CSV lazily: no file exists until the first rejected row.
pub(crate) struct ErrorFileWriter {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<BufWriter<File>>>,
}

impl ErrorFileWriter {
    /// Prepares a writer for `path` with the upload's header cells.
    pub(crate) fn new(path: &Path, header: Vec<String>) -> Self {
        Self {
            path: path.to_owned(),
            header,
            writer: None,
        }
    }

    /// Appends one rejected row, padded or cut to the header's width.
    pub(crate) fn write(&mut self, row: &RejectedRow) -> std::io::Result<()> {
        let width = self.header.len();
        if self.writer.is_none() {
            let mut file = BufWriter::new(File::create(&self.path)?);
            // A UTF-8 BOM makes Excel read the file as UTF-8 instead of the locale's code page.
            file.write_all("\u{feff}".as_bytes())?;
            let mut writer = csv::Writer::from_writer(file);
            let header = self.header.iter().map(|cell| neutralise(cell));
            write_row(&mut writer, header.chain(["Line".into(), "Error".into()]))?;
            self.writer = Some(writer);
        }
        let writer = self.writer.as_mut().expect("created above");
        let line = row.line.to_string();
        let error = row.message();
        // The Error cell quotes values, so it is neutralised like the cells themselves.
        let fields = (0..width).map(|i| neutralise(row.record.get(i).unwrap_or("")));
        write_row(
            writer,
            fields.chain([line.as_str().into(), neutralise(&error)]),
        )?;
        Ok(())
    }

    /// Flushes the file; returns whether one was written.
    pub(crate) fn finish(mut self) -> std::io::Result<bool> {
        match self.writer.take() {
            Some(mut writer) => {
                writer.flush()?;
                let file = writer.into_inner().map_err(|e| e.into_error())?;
                file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(true)
            }
            None => {
                // A re-run that finds no errors must not leave an older run's file behind.
                match std::fs::remove_file(&self.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(false),
                }
            }
        }
    }
}

/// Writes one record of (already neutralised) cells.
fn write_row<'c, W: Write>(
    writer: &mut csv::Writer<W>,
    cells: impl Iterator<Item = Cow<'c, str>>,
) -> csv::Result<()> {
    for cell in cells {
        writer.write_field(cell.as_bytes())?;
    }
    // An empty record ends the one the fields above started.
    writer.write_record(None::<&[u8]>)
}

/// A cell as it may safely be written to a CSV that a spreadsheet opens: one starting with
/// `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so the spreadsheet shows
/// it as text instead of running it as a formula — unless it is a plain number such as
/// `-1200.50`, `+15` or `-3e5`, which stays as it is so that it still reads as a number.
pub(crate) fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        Some(b'+' | b'-') if !is_plain_number(cell) => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// `[+-]digits[.digits][e[+-]digits]`, with `,` allowed as a separator between digits.
fn is_plain_number(cell: &str) -> bool {
    let body = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mantissa_ok = mantissa.bytes().any(|b| b.is_ascii_digit())
        && mantissa
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && mantissa.bytes().filter(|&b| b == b'.').count() <= 1
        && mantissa.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_header_and_extra_cells_stop_at_the_last_non_empty_one() {
        let header: Vec<String> = vec!["A".into(), "B".into(), "C".into()];
        let row = |cells: &[&str]| RejectedRow {
            record: StringRecord::from(cells.to_vec()),
            line: 2,
            problems: Vec::new(),
        };
        let short = row(&[" 1 ", ""]);
        assert_eq!(
            short.values(&header).collect::<Vec<_>>(),
            [("A", Some(" 1 ")), ("B", Some("")), ("C", None)]
        );
        assert!(short.extra_values(3).is_empty());
        let long = row(&["1", "2", "3", "x", "", "y", "", " "]);
        assert_eq!(long.extra_values(3), ["x", "", "y"]);
        assert!(row(&["1", "2", "3", "", " "]).extra_values(3).is_empty());
    }

    #[test]
    fn formulas_get_a_leading_quote() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+SUM(1)",
            "@SUM(1)",
            "-2+3+cmd|' /C calc'!A0",
            "\t=1",
            "\r=1",
            "=1",
            "-",
            "+",
            "-e5",
            "-1,2+3",
            "--1",
        ] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn numbers_and_plain_text_stay_unchanged() {
        for cell in [
            "-1200.50",
            "+15",
            "-3e5",
            "-3E-5",
            "-1,200.50",
            "-.5",
            "1200",
            "",
            "Acme = good",
            "a@b.com",
            "O'Brien",
            "12abc",
        ] {
            assert!(matches!(neutralise(cell), Cow::Borrowed(_)), "{cell:?}");
        }
    }

    #[test]
    fn the_written_file_holds_no_formula_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("errors.csv");
        let mut writer = ErrorFileWriter::new(&path, vec!["=Name".into(), "Amount".into()]);
        writer
            .write(&RejectedRow {
                record: StringRecord::from(vec!["@SUM(1)", "-1200.50"]),
                line: 2,
                problems: vec![Problem::of_row(
                    crate::domain::ProblemCode::FieldCount,
                    "=bad",
                )],
            })
            .unwrap();
        assert!(writer.finish().unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["'=Name", "Amount", "Line", "Error"]
        );
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(row, vec!["'@SUM(1)", "-1200.50", "2", "'=bad"]);
    }
}
