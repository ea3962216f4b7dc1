//! The workbook reader (`workbook`) on arbitrary bytes behind each magic prefix and on
//! truncated and mutated copies of real workbooks (a generated xlsx, the LibreOffice-made
//! ods and xls fixtures): `detect`, `sheet_names`, `SheetRows::open` and `next_row`
//! answer `Ok` or an error with a message, and never panic.

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
