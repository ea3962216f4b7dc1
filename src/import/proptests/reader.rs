//! The CSV reader (`csv_source`) on arbitrary bytes and mutated seed files: it never
//! panics, a file it refuses gets a message, and the records it reads — fields and start
//! lines — are exactly those of an independent reference reader.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use csv::StringRecord;
use proptest::prelude::*;

use super::inputs::{self, RefRecord};
use crate::import::csv_source;

/// A temp file removed on drop.
struct TempCsv(PathBuf);

impl TempCsv {
    fn new(bytes: &[u8]) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("reader_proptest_{}_{n}.csv", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempCsv(path)
    }
}

impl Drop for TempCsv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What `csv_source` read: `None` for a record that is not UTF-8 (the engine reports
/// it as an error row).
type Read = Vec<(u64, Option<Vec<String>>)>;

/// Sniffs, opens and reads `bytes` to the end; checks refusals on the way. Returns the
/// records and the reference reader's records of the same text, or `None` when the
/// file was refused.
fn read_both(bytes: &[u8]) -> Result<Option<(Read, Vec<RefRecord>)>, TestCaseError> {
    let file = TempCsv::new(bytes);
    let format = match csv_source::sniff(&file.0) {
        Ok(format) => format,
        Err(e) => {
            prop_assert!(!e.to_string().trim().is_empty(), "{e:?} has no message");
            prop_assert!(
                !matches!(e, csv_source::SourceError::Io(_)),
                "a readable file is refused as unreadable: {e}"
            );
            return Ok(None);
        }
    };
    let mut reader = csv_source::open(&file.0, &format)
        .map_err(|e| TestCaseError::fail(format!("sniffed but cannot open: {e}")))?;
    let mut record = StringRecord::new();
    let mut read = Vec::new();
    loop {
        match csv_source::read_record(&mut reader, &mut record) {
            Ok(true) => read.push((
                csv_source::line_of(&record),
                Some(record.iter().map(str::to_owned).collect()),
            )),
            Ok(false) => break,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => read.push((0, None)),
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "csv refused a record of a sniffed file: {e}"
                )));
            }
        }
    }
    let text = inputs::decode(bytes, format.encoding);
    let mut expected = inputs::reference_records(&text, char::from(format.delimiter));
    if format.encoding == encoding_rs::UTF_8 && !text_has_replacement_char(bytes) {
        // Invalid UTF-8 (possible after a UTF-8 BOM) must fail its record, never be
        // replaced by U+FFFD: the reference decodes it as U+FFFD, so those records are
        // the ones that must come out as non-UTF-8.
        for record in &mut expected {
            record.invalid_utf8 = record.fields.iter().any(|f| f.contains('\u{fffd}'));
        }
    }
    Ok(Some((read, expected)))
}

/// Whether the file holds U+FFFD itself, as UTF-8.
fn text_has_replacement_char(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == "\u{fffd}".as_bytes())
}

/// The reader agrees with the reference record for record: same count, same fields,
/// same start lines. A record that is not valid UTF-8 must still be a row.
fn check_reader(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Some((read, expected)) = read_both(bytes)? else {
        return Ok(());
    };
    prop_assert_eq!(
        read.len(),
        expected.len(),
        "record count differs; read {:?}, expected {:?}",
        read,
        expected
    );
    for ((line, fields), reference) in read.iter().zip(&expected) {
        match fields {
            Some(fields) => {
                prop_assert_eq!(fields, &reference.fields);
                // Known gap: a record cut off by the end of the file inside an open quote
                // may be reported one line early (csv cannot tell it had no line break).
                if reference.terminated {
                    prop_assert_eq!(*line, reference.line, "start line of {:?}", fields);
                }
            }
            None => prop_assert!(!reference.is_blank(), "a non-UTF-8 record is blank"),
        }
        prop_assert_eq!(
            fields.is_none(),
            reference.invalid_utf8,
            "invalid UTF-8 must fail its record: {:?}",
            reference
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(super::config(256))]

    #[test]
    fn reader_reads_arbitrary_bytes_like_the_reference(bytes in inputs::arbitrary_bytes()) {
        check_reader(&bytes)?;
    }

    #[test]
    fn reader_reads_mutated_seed_files_like_the_reference(
        (name, bytes) in inputs::mutated_seed(&inputs::seed_files(), 6)
    ) {
        check_reader(&bytes).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    }
}

#[test]
fn every_seed_file_reads_like_the_reference() {
    for (name, bytes) in inputs::seed_files() {
        if let Err(e) = check_reader(&bytes) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn reference_reader_follows_rfc_4180_and_csv_leniency() {
    let records =
        inputs::reference_records("a,\"b,\"\"c\"\"\"\r\n\r\n1,x\"y\"z\n\"q\"r,\"open\n", ',');
    let fields: Vec<_> = records.iter().map(|r| r.fields.clone()).collect();
    assert_eq!(
        fields,
        [
            vec!["a", "b,\"c\""],
            vec!["1", "x\"y\"z"],
            vec!["qr", "open\n"]
        ]
    );
    let lines: Vec<_> = records.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 3, 4]);
}

// Inputs the properties found, kept as plain tests.

/// An open quote at the end of the file runs to the end and makes one record; the final
/// line break the reader adds joins the field.
#[test]
fn open_quote_at_the_end_of_the_file() {
    check_reader(b"\"\"\r\"").unwrap();
    check_reader(b"a\n\"x\ny\"\r\n\"").unwrap();
}

/// Byte order marks repeated after the first: the UTF-16 decoder removes one more and
/// csv one more again, so a header line of nothing but BOMs is blank.
#[test]
fn repeated_byte_order_marks() {
    check_reader(b"\xFE\xFF\xFE\xFF\"").unwrap();
    check_reader(b"\xFF\xFE\xFF\xFE\xFF\xFE").unwrap();
    check_reader(b"\xEF\xBB\xBF\xEF\xBB\xBF\xEF\xBB\xBFa\n").unwrap();
}

/// A Windows-1252 file cut by an open quote in its third line.
#[test]
fn open_quote_in_a_windows_1252_file() {
    check_reader(
        b"Opportunity ID;Opportunity Name\r\nDE-1;M\xFCller\r\nDE-2;\";80000,50;Caf\xE9\r\nDE-3;x\r\n",
    )
    .unwrap();
}

/// A stray invalid byte after a UTF-8 BOM fails its record (the engine makes it an error
/// row); it was silently read as U+FFFD because the decoder was given the encoding,
/// which turns off `utf8_passthru`.
#[test]
fn invalid_utf8_after_a_utf8_bom_fails_its_record() {
    let bytes = b"\xEF\xBB\xBFName,City\nJ\xC3\xBCrgen,M\xFCnchen\nAnn,Paris\n";
    let (read, _) = read_both(bytes).unwrap().unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(read[1].1, None, "{read:?}");
    assert_eq!(read[2].1, Some(vec!["Ann".to_owned(), "Paris".to_owned()]));
    check_reader(bytes).unwrap();
}
