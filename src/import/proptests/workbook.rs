//! The workbook reader (`workbook`) on arbitrary bytes behind each magic prefix, on
//! truncated and mutated copies of real workbooks (a generated xlsx, the LibreOffice-made
//! ods and xls fixtures), and on copies whose declared numbers are inflated (issue 18:
//! shared strings counts, dimensions, ods repeat and space counts, zip header sizes):
//! `detect`, `sheet_names`, `SheetRows::open` and `next_row` answer `Ok` or an error with
//! a message, and never panic. Nor do they abort on a failed allocation, which would end
//! the test binary: memory stays bounded whatever a file declares.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;

use crate::import::workbook::{self, SheetRows, WorkbookError, WorkbookFormat};

/// Rows read from one sheet at most, so a case stays fast whatever the file claims.
const MAX_ROWS: usize = 2_000;

/// The seed workbooks: name, format and bytes.
fn seeds() -> &'static [(&'static str, WorkbookFormat, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(&'static str, WorkbookFormat, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::TempDir::new().unwrap();
        let xlsx = dir.path().join("sample.xlsx");
        workbook::tests::write_sample(&xlsx);
        let fixture = |name: &str| {
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/workbooks")
                    .join(name),
            )
            .unwrap()
        };
        vec![
            (
                "sample.xlsx",
                WorkbookFormat::Xlsx,
                std::fs::read(&xlsx).unwrap(),
            ),
            ("sample.ods", WorkbookFormat::Ods, fixture("sample.ods")),
            ("sample.xls", WorkbookFormat::Xls, fixture("sample.xls")),
        ]
    })
}

/// Writes `bytes` to a temp file that lives as long as the returned guard.
fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("upload");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

fn check_error(e: &WorkbookError) -> Result<(), TestCaseError> {
    prop_assert!(!e.to_string().trim().is_empty(), "{e:?} has no message");
    prop_assert!(
        !matches!(e, WorkbookError::Io(_)),
        "a readable file is refused as unreadable: {e}"
    );
    Ok(())
}

/// Lists, opens and reads the file as `format`; every answer must be Ok or a worded
/// error, and every row must have cells and no trailing empty cell. (Row order is not
/// checked: a damaged xlsx may list its rows in any order, and they come as listed.)
fn exercise(path: &Path, format: WorkbookFormat) -> Result<(), TestCaseError> {
    if let Err(e) = workbook::sheet_names(path, format) {
        check_error(&e)?;
    }
    let mut rows = match SheetRows::open(path, format, None) {
        Ok(rows) => rows,
        Err(e) => return check_error(&e),
    };
    let mut cells = Vec::new();
    for _ in 0..MAX_ROWS {
        match rows.next_row(&mut cells) {
            Ok(Some(row)) => {
                prop_assert!(row >= 1, "row number {row}");
                prop_assert!(!cells.is_empty(), "row {row} is empty");
                prop_assert!(
                    cells.last().is_some_and(|c| !c.is_empty()),
                    "row {row} ends with an empty cell: {cells:?}"
                );
            }
            Ok(None) => break,
            Err(e) => return check_error(&e),
        }
    }
    Ok(())
}

/// Detects the file, then reads it as the detected format and as every format its
/// magic could be, since an upload may be opened as what its name claims.
fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_dir, path) = temp_file(bytes);
    let detected = workbook::detect(&path)
        .map_err(|e| TestCaseError::fail(format!("detect failed on a readable file: {e}")))?;
    let mut formats = Vec::new();
    if let Some(format) = detected {
        formats.push(format);
    }
    if bytes.starts_with(b"PK") {
        formats.extend([WorkbookFormat::Xlsx, WorkbookFormat::Ods]);
    } else if bytes.starts_with(&[0xD0, 0xCF]) {
        formats.push(WorkbookFormat::Xls);
    }
    formats.dedup();
    for format in formats {
        exercise(&path, format)?;
    }
    Ok(())
}

/// Arbitrary bytes behind one of the magic prefixes (or none).
fn prefixed_bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: Vec<&'static [u8]> = vec![
        &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1],
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"",
    ];
    (
        proptest::sample::select(prefixes),
        proptest::collection::vec(any::<u8>(), 0..4096),
    )
        .prop_map(|(prefix, tail)| [prefix, tail.as_slice()].concat())
}

/// A seed cut at any length.
fn truncated_seed() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (0..seeds().len(), any::<prop::sample::Index>()).prop_map(|(i, cut)| {
        let (name, _, bytes) = &seeds()[i];
        (*name, bytes[..cut.index(bytes.len() + 1)].to_vec())
    })
}

/// A seed with up to `n` bytes overwritten at arbitrary places.
fn mutated_seed(n: usize) -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (
        0..seeds().len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..=n),
    )
        .prop_map(|(i, edits)| {
            let (name, _, bytes) = &seeds()[i];
            let mut bytes = bytes.clone();
            let len = bytes.len();
            for (at, value) in edits {
                bytes[at.index(len)] = value;
            }
            (*name, bytes)
        })
}

#[test]
fn the_seeds_read_whole() {
    for (name, format, bytes) in seeds() {
        let (_dir, path) = temp_file(bytes);
        assert_eq!(workbook::detect(&path).unwrap(), Some(*format), "{name}");
        let mut rows = SheetRows::open(&path, *format, None).unwrap();
        let mut cells = Vec::new();
        let mut count = 0;
        while rows.next_row(&mut cells).unwrap().is_some() {
            count += 1;
        }
        assert_eq!(count, 7, "{name}");
    }
}

/// The seed named `name`.
fn seed(name: &str) -> &'static [u8] {
    &seeds().iter().find(|(n, _, _)| *n == name).unwrap().2
}

/// A copy of zip `bytes` whose entries' text goes through `edit(name, text)`.
fn rewrite_zip(bytes: &[u8], mut edit: impl FnMut(&str, String) -> String) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_owned();
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw).unwrap();
        let raw = match String::from_utf8(raw) {
            Ok(text) => edit(&name, text).into_bytes(),
            Err(e) => e.into_bytes(),
        };
        let method = if name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        out.start_file(
            name,
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        out.write_all(&raw).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Overwrites the unpacked size declared by every local and central header (a zip
/// written by `rewrite_zip`: no zip64) whose entry's index is `pick` among them.
fn set_declared_size(bytes: &mut [u8], pick: prop::sample::Index, size: u32) {
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let mut names = Vec::new();
    let mut at = 0;
    while at + 46 <= bytes.len() {
        if bytes[at..at + 4] == *b"PK\x01\x02" {
            let len = u16_at(bytes, at + 28);
            names.push(bytes[at + 46..(at + 46 + len).min(bytes.len())].to_vec());
        }
        at += 1;
    }
    if names.is_empty() {
        return;
    }
    let name = names[pick.index(names.len())].clone();
    let mut at = 0;
    while at + 46 <= bytes.len() {
        match &bytes[at..at + 4] {
            b"PK\x03\x04"
                if u16_at(bytes, at + 26) == name.len() && bytes[at + 30..].starts_with(&name) =>
            {
                bytes[at + 22..at + 26].copy_from_slice(&size.to_le_bytes());
            }
            b"PK\x01\x02"
                if u16_at(bytes, at + 28) == name.len() && bytes[at + 46..].starts_with(&name) =>
            {
                bytes[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
            }
            _ => (),
        }
        at += 1;
    }
}

/// A declared number: small, at a limit, or anything at all.
fn declared_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..50u64,
        Just(16_384),
        Just(16_385),
        Just(1_048_576),
        Just(1_048_577),
        Just(100_000_000),
        Just(1_000_000_000_000),
        any::<u64>(),
    ]
}

/// The xlsx seed with its shared strings' `uniqueCount` and `count` and its worksheets'
/// dimension inflated.
fn inflated_xlsx() -> impl Strategy<Value = Vec<u8>> {
    (
        declared_number(),
        declared_number(),
        declared_number(),
        declared_number(),
    )
        .prop_map(|(unique, count, rows, columns)| {
            rewrite_zip(seed("sample.xlsx"), |name, text| {
                if name.ends_with("sharedStrings.xml") {
                    let text = replace_attr(&text, "uniqueCount", &unique.to_string());
                    replace_attr(&text, "count", &count.to_string())
                } else if name.contains("worksheets/") {
                    let column = column_letters(columns);
                    replace_attr(&text, "ref", &format!("A1:{column}{rows}"))
                } else {
                    text
                }
            })
        })
}

/// The ods seed with repeat counts on its first string cell and first row, and a
/// `text:s` space count, inflated.
fn inflated_ods() -> impl Strategy<Value = Vec<u8>> {
    (declared_number(), declared_number(), declared_number()).prop_map(|(columns, rows, spaces)| {
        rewrite_zip(seed("sample.ods"), |name, text| {
            if name != "content.xml" {
                return text;
            }
            text.replacen(
                "<table:table-cell office:value-type=\"string\"",
                &format!(
                    "<table:table-cell table:number-columns-repeated=\"{columns}\" \
                     office:value-type=\"string\""
                ),
                1,
            )
            .replacen(
                "<table:table-row table:style-name=\"ro1\">",
                &format!(
                    "<table:table-row table:style-name=\"ro1\" \
                     table:number-rows-repeated=\"{rows}\">"
                ),
                1,
            )
            .replacen(
                "</text:p>",
                &format!("<text:s text:c=\"{spaces}\"/></text:p>"),
                1,
            )
        })
    })
}

/// A seed (xlsx or ods) whose headers declare an arbitrary unpacked size for one entry.
fn inflated_header() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::bool::ANY,
        any::<prop::sample::Index>(),
        prop_oneof![0..100u32, Just(u32::MAX), any::<u32>()],
    )
        .prop_map(|(xlsx, pick, size)| {
            let name = if xlsx { "sample.xlsx" } else { "sample.ods" };
            let mut bytes = rewrite_zip(seed(name), |_, text| text);
            set_declared_size(&mut bytes, pick, size);
            bytes
        })
}

/// `text` with the first value of attribute `name` (exactly, as ` name="`) set to
/// `value`.
fn replace_attr(text: &str, name: &str, value: &str) -> String {
    let key = format!(" {name}=\"");
    let Some(start) = text.find(&key).map(|at| at + key.len()) else {
        return text.to_owned();
    };
    let Some(len) = text[start..].find('"') else {
        return text.to_owned();
    };
    format!("{}{value}{}", &text[..start], &text[start + len..])
}

/// Column `n` (1-based) in letters; 0 gives "A".
fn column_letters(mut n: u64) -> String {
    let mut letters = Vec::new();
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    if letters.is_empty() {
        letters.push(b'A');
    }
    letters.reverse();
    String::from_utf8(letters).unwrap()
}

#[test]
fn the_issue_18_bombs_are_refused_by_a_limit() {
    let refused = |bytes: Vec<u8>, format: WorkbookFormat| {
        let (_dir, path) = temp_file(&bytes);
        let err = SheetRows::open(&path, format, None).unwrap_err();
        assert!(matches!(err, WorkbookError::OverLimit(_)), "{err:?}");
    };
    let bomb = rewrite_zip(seed("sample.xlsx"), |name, text| {
        if name.ends_with("sharedStrings.xml") {
            replace_attr(&text, "uniqueCount", "1000000000000")
        } else {
            text
        }
    });
    refused(bomb, WorkbookFormat::Xlsx);
    let bomb = rewrite_zip(seed("sample.ods"), |name, text| {
        if name == "content.xml" {
            text.replacen(
                "<table:table-cell office:value-type=\"string\"",
                "<table:table-cell table:number-columns-repeated=\"10000\" \
                 office:value-type=\"string\"",
                1,
            )
            .replacen(
                "<table:table-row table:style-name=\"ro1\">",
                "<table:table-row table:style-name=\"ro1\" table:number-rows-repeated=\"9000\">",
                1,
            )
        } else {
            text
        }
    });
    refused(bomb, WorkbookFormat::Ods);
}

proptest! {
    #![proptest_config(super::config(64))]

    #[test]
    fn workbook_reader_survives_inflated_xlsx_counts_and_dimensions(bytes in inflated_xlsx()) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn workbook_reader_survives_inflated_ods_repeats(bytes in inflated_ods()) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn workbook_reader_survives_inflated_zip_headers(bytes in inflated_header()) {
        check_bytes(&bytes)?;
    }
}

proptest! {
    #![proptest_config(super::config(64))]

    #[test]
    fn workbook_reader_survives_arbitrary_bytes_after_a_magic(bytes in prefixed_bytes()) {
        check_bytes(&bytes)?;
    }

    #[test]
    fn workbook_reader_survives_truncated_workbooks((name, bytes) in truncated_seed()) {
        check_bytes(&bytes).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    }

    #[test]
    fn workbook_reader_survives_mutated_workbooks((name, bytes) in mutated_seed(8)) {
        check_bytes(&bytes).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
    }
}
