//! Cutting an upload where its import stopped: the header line and the rows after the
//! first `rows_done` data rows, byte for byte as uploaded (same encoding, byte order
//! mark, delimiter, quoting and line breaks), so that uploading the result imports
//! exactly the rest.
//!
//! The engine counts rows in decoded text, so the cut is found in two passes. The first
//! reads the file with the engine's own reader ([`csv_source::open`]) and counts rows
//! the way the engine does (blank lines are not rows, a row that cannot be decoded is
//! one); it notes the physical line on which the rows after the header start and the one
//! on which the first unprocessed row starts. The second scans the raw bytes for those
//! lines' offsets. Both count a line break the same way (LF, CRLF or a lone CR, also
//! inside quoted fields), so the offsets are exact whatever the encoding; UTF-16 is
//! scanned in 16-bit units.
//!
//! A workbook cannot be cut byte for byte: its unprocessed rows are written as a UTF-8
//! CSV instead, the sheet's header row and then its rows after the first `rows_done`,
//! read as the engine reads them (typed cells as text, empty rows skipped), each cell
//! that a spreadsheet would run as a formula neutralised as in the error CSV
//! ([`error_file::neutralise`]).

use std::{
    fs::File,
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    path::Path,
};

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE};

use super::{
    csv_source, error_file,
    records::{ReadError, Records},
    workbook::{self, SheetChoice},
};

/// Why the unprocessed part of an upload could not be cut.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnprocessedError {
    /// Reading the upload or writing the result failed.
    #[error("file error: {0}")]
    Io(#[from] io::Error),
    /// The file no longer reads the way it did for the import (it cannot: uploads are
    /// never changed), so no exact cut can be given.
    #[error("the upload cannot be cut where its import stopped: {0}")]
    Unreadable(String),
}

impl UnprocessedError {
    /// A file that could not be opened or read stays an I/O error (the caller tells an
    /// upload removed meanwhile by its `NotFound`); anything else is unreadable.
    fn from_source(error: csv_source::SourceError) -> Self {
        match error {
            csv_source::SourceError::Io(io) => Self::Io(io),
            other => Self::Unreadable(other.to_string()),
        }
    }
}

/// Writes to `out` the upload at `upload` without its first `rows_done` data rows: its
/// bytes up to the end of the header line, then its bytes from the first row after
/// those to the end. With `rows_done == 0` (nothing processed, or a job that failed on
/// its header) that is the whole file as uploaded. With `rows_done` at or past the last
/// row, only the header part is written.
pub(crate) fn write_unprocessed(
    upload: &Path,
    sheet: Option<&SheetChoice>,
    rows_done: u64,
    out: &mut impl Write,
) -> Result<(), UnprocessedError> {
    let mut file = File::open(upload)?;
    if workbook::detect(upload)?.is_some() {
        return write_sheet_rest(upload, sheet, rows_done, out);
    }
    if rows_done == 0 {
        io::copy(&mut file, out)?;
        return Ok(());
    }
    let format = csv_source::sniff(upload).map_err(UnprocessedError::from_source)?;
    let (rows_start_line, rest_start_line) = cut_lines(upload, &format, rows_done)?;
    let len = file.metadata()?.len();
    let [rows_start, rest_start] = line_offsets(
        BufReader::with_capacity(64 * 1024, &mut file),
        unit_of(format.encoding),
        [rows_start_line, rest_start_line],
        len,
    )?;
    file.seek(SeekFrom::Start(0))?;
    io::copy(&mut (&mut file).take(rows_start), out)?;
    file.seek(SeekFrom::Start(rest_start))?;
    io::copy(&mut file, out)?;
    Ok(())
}

/// A workbook's header row and its rows after the first `rows_done`, as a CSV.
fn write_sheet_rest(
    upload: &Path,
    sheet: Option<&SheetChoice>,
    rows_done: u64,
    out: &mut impl Write,
) -> Result<(), UnprocessedError> {
    let unreadable = |e: &dyn std::fmt::Display| UnprocessedError::Unreadable(e.to_string());
    let (mut records, _) = Records::open(upload, sheet).map_err(|e| unreadable(&e))?;
    let mut csv = csv::Writer::from_writer(out);
    let mut record = StringRecord::new();
    let mut header_done = false;
    let mut rows = 0u64;
    loop {
        match records.read(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(ReadError::Csv(e)) => return Err(unreadable(&e)),
            Err(ReadError::Workbook(e)) => return Err(unreadable(&e)),
        }
        if csv_source::is_blank(&record) {
            continue;
        }
        if !header_done {
            header_done = true;
            records.set_width(record.len());
        } else {
            rows += 1;
            if rows <= rows_done {
                continue;
            }
        }
        // The same rule as the error CSV: this file is opened in a spreadsheet too, and a
        // workbook's text cell may hold what a spreadsheet would run as a formula.
        csv.write_record(
            record
                .iter()
                .map(|cell| error_file::neutralise(cell).into_owned()),
        )
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(io) => UnprocessedError::Io(io),
            other => UnprocessedError::Unreadable(format!("{other:?}")),
        })?;
    }
    csv.flush()?;
    Ok(())
}

/// How line breaks are spelled in the raw bytes of an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// UTF-8 and Windows-1252: CR and LF are single bytes that occur nowhere else.
    Byte,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
}

fn unit_of(encoding: &'static Encoding) -> Unit {
    if encoding == UTF_16LE {
        Unit::Utf16Le
    } else if encoding == UTF_16BE {
        Unit::Utf16Be
    } else {
        Unit::Byte
    }
}

/// The 1-based physical lines on which the text after the header line starts and on
/// which the row after the first `rows_done` rows starts (one past the last line when
/// the file has no more rows).
fn cut_lines(
    upload: &Path,
    format: &csv_source::CsvFormat,
    rows_done: u64,
) -> Result<(u64, u64), UnprocessedError> {
    let unreadable = |e: &dyn std::fmt::Display| UnprocessedError::Unreadable(e.to_string());
    let mut reader = csv_source::open(upload, format).map_err(UnprocessedError::from_source)?;
    let mut record = StringRecord::new();
    // The header: the first record that is not blank, as the engine reads it.
    loop {
        match reader.read_record(&mut record) {
            Ok(true) if csv_source::is_blank(&record) => continue,
            Ok(true) => break,
            Ok(false) => return Err(unreadable(&"the file has no header line")),
            Err(e) => return Err(unreadable(&e)),
        }
    }
    let rows_start = reader.position().line();
    let mut rows = 0;
    while rows < rows_done {
        match reader.read_record(&mut record) {
            Ok(true) if csv_source::is_blank(&record) => continue,
            Ok(true) => rows += 1,
            Ok(false) => break,
            // The engine counts an undecodable row as a (rejected) row, and so does this.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => rows += 1,
            Err(e) => return Err(unreadable(&e)),
        }
    }
    Ok((rows_start, reader.position().line()))
}

/// The byte offsets at which the 1-based physical `lines` start, counting LF, CRLF and a
/// lone CR as one line break each; `len` (the end of the file) for a line past the last.
fn line_offsets<const N: usize>(
    mut raw: impl Read,
    unit: Unit,
    lines: [u64; N],
    len: u64,
) -> io::Result<[u64; N]> {
    let width: u64 = if unit == Unit::Byte { 1 } else { 2 };
    let last = lines.iter().copied().max().unwrap_or(1);
    let mut offsets = lines.map(|line| if line <= 1 { 0 } else { len });
    let mut line = 1u64;
    let mut after_cr = false;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry: Option<u8> = None; // The first byte of a 16-bit unit split by a read.
    while line <= last {
        let n = raw.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut bytes = &buf[..n];
        while line <= last {
            let value = match unit {
                Unit::Byte => match bytes.split_first() {
                    Some((&b, rest)) => {
                        bytes = rest;
                        u16::from(b)
                    }
                    None => break,
                },
                Unit::Utf16Le | Unit::Utf16Be => {
                    let (first, second) = match (carry.take(), bytes) {
                        (Some(first), [second, rest @ ..]) => {
                            bytes = rest;
                            (first, *second)
                        }
                        (None, [first, second, rest @ ..]) => {
                            bytes = rest;
                            (*first, *second)
                        }
                        (None, [first]) => {
                            carry = Some(*first);
                            break;
                        }
                        (carried, _) => {
                            carry = carried;
                            break;
                        }
                    };
                    if unit == Unit::Utf16Le {
                        u16::from_le_bytes([first, second])
                    } else {
                        u16::from_be_bytes([first, second])
                    }
                }
            };
            offset += width;
            let next_line_starts = match value {
                0x0D => {
                    line += 1;
                    true
                }
                // The LF of a CRLF: the line that the CR began starts after it.
                0x0A if after_cr => true,
                0x0A => {
                    line += 1;
                    true
                }
                _ => false,
            };
            after_cr = value == 0x0D;
            if next_line_starts {
                for (target, start) in lines.iter().zip(offsets.iter_mut()) {
                    if *target == line {
                        *start = offset;
                    }
                }
            }
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(bytes: &[u8], rows_done: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.csv");
        std::fs::write(&path, bytes).unwrap();
        let mut out = Vec::new();
        write_unprocessed(&path, None, rows_done, &mut out).unwrap();
        out
    }

    #[test]
    fn a_missing_upload_is_not_found_not_unreadable() {
        // The API tells "the worker removed the upload meanwhile" by this kind.
        let dir = tempfile::tempdir().unwrap();
        let error =
            write_unprocessed(&dir.path().join("gone.csv"), None, 3, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&error, UnprocessedError::Io(io) if io.kind() == io::ErrorKind::NotFound),
            "{error:?}"
        );
    }

    #[test]
    fn workbook_cells_that_would_run_as_formulas_are_neutralised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload.xlsx");
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (col, cell) in ["Name", "=Note", "Amount"].iter().enumerate() {
            sheet.write_string(0, col as u16, *cell).unwrap();
        }
        let rows: [[&str; 2]; 3] = [
            ["Done", "plain"],
            ["=HYPERLINK(\"http://x.example\",\"a\")", "@SUM(A1)"],
            ["+cmd|' /C calc'!A0", "-2+3"],
        ];
        for (row, [name, note]) in rows.iter().enumerate() {
            let row = row as u32 + 1;
            sheet.write_string(row, 0, *name).unwrap();
            sheet.write_string(row, 1, *note).unwrap();
            sheet.write_number(row, 2, -12.5).unwrap();
        }
        workbook.save(&path).unwrap();
        let mut out = Vec::new();
        write_unprocessed(&path, None, 1, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Name,'=Note,Amount\n\
             \"'=HYPERLINK(\"\"http://x.example\"\",\"\"a\"\")\",'@SUM(A1),-12.5\n\
             '+cmd|' /C calc'!A0,'-2+3,-12.5\n"
        );
    }

    fn utf16le(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    fn utf16be(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        bytes
    }

    #[test]
    fn nothing_processed_is_the_whole_file() {
        let file = b"\n\nnot a header at all\x00\xff";
        assert_eq!(cut(file, 0), file);
    }

    #[test]
    fn the_header_and_the_rows_after_the_processed_ones_are_kept() {
        let file = b"id,name\n1,a\n2,b\n3,c\n";
        assert_eq!(cut(file, 1), b"id,name\n2,b\n3,c\n");
        assert_eq!(cut(file, 2), b"id,name\n3,c\n");
        assert_eq!(cut(file, 3), b"id,name\n");
        assert_eq!(cut(file, 9), b"id,name\n");
    }

    #[test]
    fn blank_lines_are_not_rows_and_line_breaks_stay_as_they_were() {
        let file = b"\r\n\r\nid;name\r\n\r\n1;a\r\n;;\r\n2;\"b\r\nstill b\"\r\n\r\n3;c";
        assert_eq!(
            cut(file, 1),
            b"\r\n\r\nid;name\r\n;;\r\n2;\"b\r\nstill b\"\r\n\r\n3;c"
        );
        assert_eq!(cut(file, 2), b"\r\n\r\nid;name\r\n\r\n3;c");
        assert_eq!(cut(file, 3), b"\r\n\r\nid;name\r\n");
        let mac = b"id,name\r1,a\r2,b\r";
        assert_eq!(cut(mac, 1), b"id,name\r2,b\r");
    }

    #[test]
    fn bom_and_windows_1252_bytes_are_preserved() {
        let bom = b"\xEF\xBB\xBFid,name\n1,\xC3\xA9\n2,\xC3\xBC\n";
        assert_eq!(cut(bom, 1), b"\xEF\xBB\xBFid,name\n2,\xC3\xBC\n");
        let cp1252 = b"id;name\r\n1;Caf\xE9\r\n2;M\xFCller\r\n";
        assert_eq!(cut(cp1252, 1), b"id;name\r\n2;M\xFCller\r\n");
    }

    #[test]
    fn utf16_is_cut_in_16_bit_units() {
        // U+0A0D has the bytes of LF and CR, which must not count as line breaks.
        let text = "id\tname\r\n1\t\u{0A0D}\r\n2\t\u{0D0A}b\r\n3\tc\r\n";
        assert_eq!(
            cut(&utf16le(text), 2),
            utf16le("id\tname\r\n3\tc\r\n").as_slice()
        );
        assert_eq!(
            cut(&utf16be(text), 1),
            utf16be("id\tname\r\n2\t\u{0D0A}b\r\n3\tc\r\n").as_slice()
        );
    }

    #[test]
    fn an_undecodable_row_counts_as_a_row() {
        // A UTF-8 BOM with a stray Windows-1252 byte: the engine rejects that row.
        let file = b"\xEF\xBB\xBFid,name\n1,\xE9\n2,b\n";
        assert_eq!(cut(file, 1), b"\xEF\xBB\xBFid,name\n2,b\n");
    }

    #[test]
    fn line_offsets_survive_reads_that_split_a_crlf_or_a_unit() {
        /// Hands out one byte per read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.split_first() {
                    Some((&b, rest)) if !buf.is_empty() => {
                        buf[0] = b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let bytes = b"a\r\nb\rc\nd";
        let offsets = line_offsets(Trickle(bytes), Unit::Byte, [1, 2, 3, 4, 5], 8).unwrap();
        assert_eq!(offsets, [0, 3, 5, 7, 8]);
        let wide = utf16le("a\r\nb");
        let offsets = line_offsets(Trickle(&wide), Unit::Utf16Le, [2, 3], 10).unwrap();
        assert_eq!(offsets, [8, 10]);
    }
}
