//! Tests of the workbook reader on real workbooks: xlsx files written here with
//! rust_xlsxwriter, and the ods, xls and encrypted files of `tests/fixtures/workbooks/`
//! (see SOURCES.md there for how they were made).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use calamine::{CellErrorType, Data, ExcelDateTime, ExcelDateTimeType};
use rust_xlsxwriter::{ExcelDateTime as XlDate, Format, Formula, Workbook};
use tempfile::TempDir;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workbooks")
        .join(name)
}

/// Rows with their sheet row numbers.
type Rows = Vec<(u32, Vec<String>)>;

/// The sheet's name and all its non-empty rows.
fn read_all(
    path: &Path,
    format: WorkbookFormat,
    sheet: Option<&SheetChoice>,
) -> Result<(String, Rows), WorkbookError> {
    let mut rows = SheetRows::open(path, format, sheet)?;
    let mut out = Vec::new();
    let mut cells = Vec::new();
    while let Some(row) = rows.next_row(&mut cells)? {
        out.push((row, cells.clone()));
    }
    // The end stays the end.
    assert_eq!(rows.next_row(&mut cells)?, None);
    Ok((rows.sheet_name().to_owned(), out))
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// The workbook behind most tests and behind the ods/xls fixtures: a hidden first sheet,
/// then "Sales" with every kind of cell, then "Notes".
pub(crate) fn write_sample(path: &Path) {
    let mut workbook = Workbook::new();
    let hidden = workbook.add_worksheet();
    hidden.set_name("Lookup").unwrap().set_hidden(true);
    hidden.write_string(0, 0, "hidden data").unwrap();

    let sales = workbook.add_worksheet();
    // The first sheet can only be hidden when another one is active.
    sales.set_name("Sales").unwrap().set_active(true);
    let dmy = Format::new().set_num_format("dd/mm/yyyy");
    let long = Format::new().set_num_format("d mmmm yyyy");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let us = Format::new().set_num_format("m/d/yy");
    for (col, title) in ["Name", "Amount", "Closed", "Won", "Count"]
        .iter()
        .enumerate()
    {
        sales.write_string(0, col as u16, *title).unwrap();
    }
    sales.write_string(1, 0, "  Acme Corp  ").unwrap();
    sales.write_number(1, 1, 12345.67).unwrap();
    sales
        .write_datetime_with_format(1, 2, XlDate::from_ymd(2024, 3, 15).unwrap(), &dmy)
        .unwrap();
    sales.write_boolean(1, 3, true).unwrap();
    sales.write_number(1, 4, 3).unwrap();

    sales.write_string(2, 0, "Globex").unwrap();
    sales.write_number(2, 1, 80000.00000000001).unwrap();
    let closed = XlDate::from_ymd(2024, 3, 15)
        .unwrap()
        .and_hms(10, 30, 0)
        .unwrap();
    sales
        .write_datetime_with_format(2, 2, closed, &stamp)
        .unwrap();
    sales.write_boolean(2, 3, false).unwrap();
    sales
        .write_formula(2, 4, Formula::new("=E2*2").set_result("6"))
        .unwrap();
    // Row 4 is empty.
    sales.write_string(4, 0, "Initech").unwrap();
    sales.write_number(4, 1, 100000).unwrap();
    sales
        .write_datetime_with_format(4, 2, XlDate::from_ymd(1999, 12, 31).unwrap(), &long)
        .unwrap();
    // A gap in D, then an error cell.
    sales
        .write_formula(4, 4, Formula::new("=NA()").set_result("#N/A"))
        .unwrap();
    // Trailing cells that are empty once read: a formatted blank and spaces only.
    sales.write_blank(4, 6, &dmy).unwrap();
    sales.write_string(4, 7, "   ").unwrap();

    sales.write_string(5, 0, "Umbrella").unwrap();
    sales.write_number(5, 1, 0.1 + 0.2).unwrap();
    sales
        .write_datetime_with_format(5, 2, XlDate::from_ymd(2023, 1, 2).unwrap(), &us)
        .unwrap();
    // Merged B7:C7, value in the top-left only.
    sales.write_string(6, 0, "Merged").unwrap();
    sales
        .merge_range(6, 1, 6, 2, "West", &Format::new())
        .unwrap();
    sales.write_number(6, 3, -0.000123).unwrap();
    // Rows 8 and 9 empty but for a formatted blank: still skipped.
    sales.write_blank(7, 1, &dmy).unwrap();
    sales.write_number(9, 1, -42.5).unwrap();

    let notes = workbook.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "note").unwrap();
    notes.write_string(2, 1, "second").unwrap();
    workbook.save(path).unwrap();
}

/// What "Sales" of [`write_sample`] reads as.
fn sample_sales() -> Rows {
    vec![
        (1, row(&["Name", "Amount", "Closed", "Won", "Count"])),
        (
            2,
            row(&["Acme Corp", "12345.67", "2024-03-15", "TRUE", "3"]),
        ),
        (
            3,
            row(&["Globex", "80000", "2024-03-15 10:30:00", "FALSE", "6"]),
        ),
        (5, row(&["Initech", "100000", "1999-12-31", "", "#N/A"])),
        (6, row(&["Umbrella", "0.3", "2023-01-02"])),
        (7, row(&["Merged", "West", "", "-0.000123"])),
        (10, row(&["", "-42.5"])),
    ]
}

fn sample() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("sample.xlsx");
    write_sample(&path);
    (dir, path)
}

/// Writes the sample workbook where SOURCES.md says the fixtures were converted from
/// (on every run: it is cheap, and the source of the fixtures stays at hand), and checks
/// that it reads back as the workbook the fixtures were made from.
#[test]
fn write_fixture_source() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/workbook-sample.xlsx");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_sample(&path);
    assert_eq!(detect(&path).unwrap(), Some(WorkbookFormat::Xlsx));
    let names: Vec<String> = sheet_names(&path, WorkbookFormat::Xlsx)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let ods: Vec<String> = sheet_names(&fixture("sample.ods"), WorkbookFormat::Ods)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ods, "sample.ods was converted from this workbook");
}

// --- cell_text ---------------------------------------------------------------------

#[test]
fn numbers_print_without_exponent_or_float_noise() {
    let cases: &[(f64, &str)] = &[
        (100000.0, "100000"),
        (1e5, "100000"),
        (80000.00000000001, "80000"),
        (0.1 + 0.2, "0.3"),
        (12345.67, "12345.67"),
        (-42.5, "-42.5"),
        (0.000123, "0.000123"),
        (-0.000123, "-0.000123"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e15, "1000000000000000"),
        (123456789012.34, "123456789012.34"),
        (1.0 / 3.0, "0.333333333333333"),
        (2.675, "2.675"),
        (99.99999999999999, "100"),
    ];
    for (value, text) in cases {
        assert_eq!(cell_text(&Data::Float(*value)), *text, "{value:?}");
    }
    assert_eq!(cell_text(&Data::Int(-7)), "-7");
    assert_eq!(cell_text(&Data::Int(100000)), "100000");
}

#[test]
fn dates_print_as_iso_dates_in_both_date_systems() {
    let date = |value, is_1904| {
        Data::DateTime(ExcelDateTime::new(
            value,
            ExcelDateTimeType::DateTime,
            is_1904,
        ))
    };
    assert_eq!(cell_text(&date(45366.0, false)), "2024-03-15");
    assert_eq!(cell_text(&date(45366.4375, false)), "2024-03-15 10:30:00");
    // The same serial is 1462 days later in the 1904 system.
    assert_eq!(cell_text(&date(45366.0 - 1462.0, true)), "2024-03-15");
    assert_eq!(cell_text(&date(1.0, true)), "1904-01-02");
    // A serial below 1 is a time of day, in both systems.
    assert_eq!(cell_text(&date(0.25, true)), "06:00:00");
    // Float noise just under a second rounds to it.
    assert_eq!(
        cell_text(&date(45366.4375 - 1e-9, false)),
        "2024-03-15 10:30:00"
    );
    // A time without a date.
    assert_eq!(cell_text(&date(0.5, false)), "12:00:00");
    let duration = Data::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
    assert_eq!(cell_text(&duration), "36:00:00");
}

#[test]
fn ods_dates_print_like_excel_dates_and_durations_stay_text() {
    let iso = |s: &str| cell_text(&Data::DateTimeIso(s.to_owned()));
    assert_eq!(iso("2024-03-15"), "2024-03-15");
    assert_eq!(iso("2024-03-15T10:30:00"), "2024-03-15 10:30:00");
    assert_eq!(iso("2024-03-15T10:29:59.9999"), "2024-03-15 10:30:00");
    assert_eq!(iso("2024-03-15T00:00:00"), "2024-03-15");
    assert_eq!(iso("not a date"), "not a date");
    assert_eq!(
        cell_text(&Data::DurationIso("PT26H30M00S".to_owned())),
        "PT26H30M00S"
    );
}

#[test]
fn text_booleans_errors_and_empty_cells() {
    assert_eq!(cell_text(&Data::String("  Acme \t".to_owned())), "Acme");
    assert_eq!(cell_text(&Data::Bool(true)), "TRUE");
    assert_eq!(cell_text(&Data::Bool(false)), "FALSE");
    assert_eq!(cell_text(&Data::Error(CellErrorType::NA)), "#N/A");
    assert_eq!(cell_text(&Data::Error(CellErrorType::Div0)), "#DIV/0!");
    assert_eq!(cell_text(&Data::Empty), "");
    assert_eq!(
        cell_ref_text(&calamine::DataRef::SharedString(" shared ")),
        "shared"
    );
}

// --- detect ------------------------------------------------------------------------

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn detect_recognises_workbooks_by_content_not_name() {
    let (dir, xlsx) = sample();
    assert_eq!(detect(&xlsx).unwrap(), Some(WorkbookFormat::Xlsx));
    // Names do not matter: an xlsx called .csv (or .xlsm) is still an xlsx.
    let renamed = dir.path().join("sales.csv");
    std::fs::copy(&xlsx, &renamed).unwrap();
    assert_eq!(detect(&renamed).unwrap(), Some(WorkbookFormat::Xlsx));
    assert_eq!(
        detect(&fixture("sample.ods")).unwrap(),
        Some(WorkbookFormat::Ods)
    );
    assert_eq!(
        detect(&fixture("sample.xls")).unwrap(),
        Some(WorkbookFormat::Xls)
    );
    // An encrypted xlsx is an OLE2 container.
    assert_eq!(
        detect(&fixture("encrypted.xlsx")).unwrap(),
        Some(WorkbookFormat::Xls)
    );
}

#[test]
fn detect_says_none_for_csv_other_zips_and_short_files() {
    let dir = TempDir::new().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    assert_eq!(
        detect(&file("a.csv", b"name,amount\nAcme,1\n")).unwrap(),
        None
    );
    assert_eq!(detect(&file("empty.xlsx", b"")).unwrap(), None);
    assert_eq!(detect(&file("short", b"PK")).unwrap(), None);
    assert_eq!(
        detect(&file("broken.xlsx", b"PK\x03\x04garbage")).unwrap(),
        None
    );

    let docx = dir.path().join("letter.docx");
    write_zip(&docx, &[("word/document.xml", b"<w:document/>")]);
    assert_eq!(detect(&docx).unwrap(), None);
    let odt = dir.path().join("letter.odt");
    write_zip(
        &odt,
        &[("mimetype", b"application/vnd.oasis.opendocument.text")],
    );
    assert_eq!(detect(&odt).unwrap(), None);
    let ods = dir.path().join("bare.ods");
    write_zip(&ods, &[("mimetype", ODS_MIMETYPE.as_bytes())]);
    assert_eq!(detect(&ods).unwrap(), Some(WorkbookFormat::Ods));

    assert!(detect(&dir.path().join("missing.xlsx")).is_err());
}

// --- SheetChoice -------------------------------------------------------------------

#[test]
fn sheet_choice_parses_indexes_and_names() {
    assert_eq!(SheetChoice::parse("2"), SheetChoice::Index(2));
    assert_eq!(SheetChoice::parse(" 12 "), SheetChoice::Index(12));
    assert_eq!(SheetChoice::parse("0"), SheetChoice::Name("0".to_owned()));
    assert_eq!(
        SheetChoice::parse(" Sales "),
        SheetChoice::Name("Sales".to_owned())
    );
    assert_eq!(SheetChoice::parse("-1"), SheetChoice::Name("-1".to_owned()));
    assert_eq!(SheetChoice::parse("2a"), SheetChoice::Name("2a".to_owned()));
    assert_eq!(SheetChoice::parse("١"), SheetChoice::Name("١".to_owned()));
    assert_eq!(
        SheetChoice::parse("99999999999999999999999"),
        SheetChoice::Name("99999999999999999999999".to_owned())
    );
}

// --- xlsx --------------------------------------------------------------------------

#[test]
fn xlsx_rows_are_text_cells_with_sheet_row_numbers() {
    let (_dir, path) = sample();
    let (name, rows) = read_all(&path, WorkbookFormat::Xlsx, None).unwrap();
    // The first sheet is hidden: the default is the first visible one.
    assert_eq!(name, "Sales");
    assert_eq!(rows, sample_sales());
}

#[test]
fn sheet_names_lists_worksheets_with_visibility() {
    let (_dir, path) = sample();
    assert_eq!(
        sheet_names(&path, WorkbookFormat::Xlsx).unwrap(),
        vec![
            ("Lookup".to_owned(), false),
            ("Sales".to_owned(), true),
            ("Notes".to_owned(), true),
        ]
    );
}

#[test]
fn sheets_are_chosen_by_name_or_index() {
    let (_dir, path) = sample();
    let open = |choice: SheetChoice| read_all(&path, WorkbookFormat::Xlsx, Some(&choice));
    let notes = vec![(1, row(&["note"])), (3, row(&["", "second"]))];
    assert_eq!(
        open(SheetChoice::parse("Notes")).unwrap(),
        ("Notes".to_owned(), notes.clone())
    );
    assert_eq!(open(SheetChoice::parse("notes")).unwrap().0, "Notes");
    assert_eq!(
        open(SheetChoice::parse("3")).unwrap(),
        ("Notes".to_owned(), notes)
    );
    // Index 1 is the hidden sheet: asked for by number, it is read.
    assert_eq!(
        open(SheetChoice::Index(1)).unwrap(),
        ("Lookup".to_owned(), vec![(1, row(&["hidden data"]))])
    );
    assert_eq!(open(SheetChoice::Index(2)).unwrap().0, "Sales");
}

#[test]
fn an_unknown_sheet_lists_the_sheets() {
    let (_dir, path) = sample();
    for (choice, wanted) in [
        (SheetChoice::parse("Pipeline"), "Pipeline"),
        (SheetChoice::Index(4), "4"),
    ] {
        // Opening the sheet and only looking it up (as the upload does) agree.
        let opened = SheetRows::open(&path, WorkbookFormat::Xlsx, Some(&choice)).unwrap_err();
        let looked_up = sheet_for(&path, WorkbookFormat::Xlsx, Some(&choice)).unwrap_err();
        for err in [opened, looked_up] {
            assert!(err.is_unknown_sheet(), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "the workbook has no sheet \"{wanted}\"; its sheets are: \"Lookup\", \"Sales\", \"Notes\""
                )
            );
        }
    }
    let sheet = |choice: Option<&SheetChoice>| sheet_for(&path, WorkbookFormat::Xlsx, choice);
    assert_eq!(sheet(None).unwrap(), "Sales", "the first visible one");
    assert_eq!(sheet(Some(&SheetChoice::Index(3))).unwrap(), "Notes");
    assert_eq!(
        sheet(Some(&SheetChoice::parse("lookup"))).unwrap(),
        "Lookup"
    );
}

#[test]
fn a_sheet_named_with_digits_is_found_when_no_index_fits() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("years.xlsx");
    let mut workbook = Workbook::new();
    for name in ["2023", "2024"] {
        let sheet = workbook.add_worksheet();
        sheet.set_name(name).unwrap();
        sheet.write_string(0, 0, name).unwrap();
    }
    workbook.save(&path).unwrap();
    let open = |raw| read_all(&path, WorkbookFormat::Xlsx, Some(&SheetChoice::parse(raw)));
    assert_eq!(open("2024").unwrap().0, "2024");
    assert_eq!(open("2").unwrap().0, "2024");
    assert!(open("2025").unwrap_err().is_unknown_sheet());
}

#[test]
fn all_hidden_sheets_default_to_the_first() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("hidden.xlsx");
    let mut workbook = Workbook::new();
    let a = workbook.add_worksheet();
    a.set_name("A").unwrap().write_string(0, 0, "a").unwrap();
    let b = workbook.add_worksheet();
    b.set_name("B").unwrap().write_string(0, 0, "b").unwrap();
    b.set_hidden(true);
    workbook.save(&path).unwrap();
    assert_eq!(read_all(&path, WorkbookFormat::Xlsx, None).unwrap().0, "A");
}

#[test]
fn last_row_hint_is_the_declared_last_row() {
    let (_dir, path) = sample();
    let rows = SheetRows::open(&path, WorkbookFormat::Xlsx, None).unwrap();
    assert_eq!(rows.last_row_hint(), Some(10));

    // A name that XML escapes still finds its sheet's dimension.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("escaped.xlsx");
    let mut workbook = Workbook::new();
    workbook
        .add_worksheet()
        .write_string(0, 0, "first")
        .unwrap();
    let sheet = workbook.add_worksheet();
    sheet.set_name("P&L <2024>").unwrap();
    sheet.write_string(1, 1, "b2").unwrap();
    sheet.write_string(2, 3, "d3").unwrap();
    workbook.save(&path).unwrap();
    let choice = SheetChoice::parse("P&L <2024>");
    let rows = SheetRows::open(&path, WorkbookFormat::Xlsx, Some(&choice)).unwrap();
    assert_eq!(rows.sheet_name(), "P&L <2024>");
    assert_eq!(rows.last_row_hint(), Some(3));
}

#[test]
fn an_empty_sheet_is_reported_by_open() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.xlsx");
    let mut workbook = Workbook::new();
    let empty = workbook.add_worksheet();
    empty.set_name("Blank").unwrap();
    // Formatted blanks and spaces are nothing to import.
    empty.write_blank(3, 3, &Format::new().set_bold()).unwrap();
    empty.write_string(4, 4, "  ").unwrap();
    workbook.save(&path).unwrap();
    let err = SheetRows::open(&path, WorkbookFormat::Xlsx, None).unwrap_err();
    assert!(matches!(err, WorkbookError::EmptySheet { .. }), "{err:?}");
    assert_eq!(err.to_string(), "the sheet \"Blank\" is empty");
}

#[test]
fn a_workbook_of_chart_sheets_only_has_no_worksheet() {
    // rust_xlsxwriter needs a worksheet for the chart's data, so the workbook is written
    // with one, then the worksheet is taken out of workbook.xml.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("charts.xlsx");
    let mut workbook = Workbook::new();
    let data = workbook.add_worksheet();
    data.set_name("Data").unwrap();
    data.write_number(0, 0, 1).unwrap();
    data.write_number(1, 0, 2).unwrap();
    let mut chart = rust_xlsxwriter::Chart::new_column();
    chart.add_series().set_values("Data!$A$1:$A$2");
    let sheet = workbook.add_chartsheet();
    sheet.set_name("Chart").unwrap();
    sheet.insert_chart(0, 0, &chart).unwrap();
    workbook.save(&path).unwrap();
    rewrite_entry(&path, "xl/workbook.xml", |xml| {
        let start = xml.find("<sheet name=\"Data\"").unwrap();
        let end = start + xml[start..].find("/>").unwrap() + 2;
        format!("{}{}", &xml[..start], &xml[end..])
    });
    assert_eq!(detect(&path).unwrap(), Some(WorkbookFormat::Xlsx));
    let err = sheet_names(&path, WorkbookFormat::Xlsx).unwrap_err();
    assert!(matches!(err, WorkbookError::NoWorksheet), "{err:?}");
    let err = SheetRows::open(&path, WorkbookFormat::Xlsx, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workbook has no worksheet (only chart sheets)"
    );
}

/// Rewrites one entry of a zip archive (stored uncompressed), keeping the others.
fn rewrite_entry(path: &Path, name: &str, edit: impl FnOnce(String) -> String) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((entry.name().to_owned(), bytes));
    }
    let mut edit = Some(edit);
    for (entry_name, bytes) in &mut entries {
        if entry_name == name {
            let text = String::from_utf8(std::mem::take(bytes)).unwrap();
            *bytes = (edit.take().unwrap())(text).into_bytes();
        }
    }
    assert!(edit.is_none(), "no {name} in {}", path.display());
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_zip(path, &refs);
}

#[test]
fn dates_of_a_1904_workbook_are_read_in_that_system() {
    // rust_xlsxwriter 0.102 cannot write a 1904 workbook: the flag is set in
    // workbook.xml afterwards, so the serials it wrote now count from 1904-01-01.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("mac.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let dmy = Format::new().set_num_format("dd/mm/yyyy");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    sheet.write_number_with_format(0, 0, 1.0, &dmy).unwrap();
    sheet.write_number_with_format(0, 1, 43904.0, &dmy).unwrap();
    sheet
        .write_number_with_format(0, 2, 43904.75, &stamp)
        .unwrap();
    sheet.write_number(0, 3, 43904.0).unwrap();
    workbook.save(&path).unwrap();
    rewrite_entry(&path, "xl/workbook.xml", |xml| {
        assert!(xml.contains("<workbookPr "), "{xml}");
        xml.replacen("<workbookPr ", "<workbookPr date1904=\"1\" ", 1)
    });
    let (_, rows) = read_all(&path, WorkbookFormat::Xlsx, None).unwrap();
    // 43904 days after 1904-01-01 is 2024-03-15 (in the 1900 system it is 2020-03-15).
    assert_eq!(
        rows,
        vec![(
            1,
            row(&["1904-01-02", "2024-03-15", "2024-03-15 18:00:00", "43904"])
        )]
    );
}

#[test]
fn a_large_sheet_streams_and_can_be_dropped_half_read() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("large.xlsx");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    for r in 0..5_000u32 {
        sheet.write_number(r, 0, r).unwrap();
        sheet.write_string(r, 2, format!("row {r}")).unwrap();
    }
    workbook.save(&path).unwrap();
    let mut rows = SheetRows::open(&path, WorkbookFormat::Xlsx, None).unwrap();
    assert_eq!(rows.last_row_hint(), Some(5_000));
    let mut cells = Vec::new();
    for expected in 1..=1_000u32 {
        assert_eq!(rows.next_row(&mut cells).unwrap(), Some(expected));
        assert_eq!(
            cells,
            row(&[
                &(expected - 1).to_string(),
                "",
                &format!("row {}", expected - 1)
            ])
        );
    }
    // Dropping must not wait for (or leak a blocked) reader thread.
    drop(rows);
    let (_, all) = read_all(&path, WorkbookFormat::Xlsx, None).unwrap();
    assert_eq!(all.len(), 5_000);
}

// --- bad workbooks -----------------------------------------------------------------

#[test]
fn a_password_protected_workbook_is_reported_as_such() {
    let path = fixture("encrypted.xlsx");
    let err = sheet_names(&path, WorkbookFormat::Xls).unwrap_err();
    assert!(matches!(err, WorkbookError::Encrypted), "{err:?}");
    let err = SheetRows::open(&path, WorkbookFormat::Xls, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workbook is password-protected; remove the password in Excel and upload it again"
    );
    // Opened as what its name says, it is refused the same way.
    let err = SheetRows::open(&path, WorkbookFormat::Xlsx, None).unwrap_err();
    assert!(matches!(err, WorkbookError::Encrypted), "{err:?}");
}

#[test]
fn truncated_and_garbled_workbooks_are_corrupt() {
    let (dir, path) = sample();
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.path().join("truncated.xlsx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Half a zip has no central directory: not even recognised as a workbook.
    assert_eq!(detect(&truncated).unwrap(), None);
    let err = SheetRows::open(&truncated, WorkbookFormat::Xlsx, None).unwrap_err();
    assert!(matches!(err, WorkbookError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("the workbook cannot be read: "),
        "{err}"
    );

    let garbled = dir.path().join("garbled.xls");
    let mut ole = OLE2_MAGIC.to_vec();
    ole.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    std::fs::write(&garbled, &ole).unwrap();
    assert_eq!(detect(&garbled).unwrap(), Some(WorkbookFormat::Xls));
    let err = SheetRows::open(&garbled, WorkbookFormat::Xls, None).unwrap_err();
    assert!(matches!(err, WorkbookError::Corrupt(_)), "{err:?}");

    // A broken sheet inside a sound zip fails on the row, not with a panic.
    rewrite_entry(&path, "xl/worksheets/sheet2.xml", |xml| {
        xml[..xml.len() * 2 / 3].to_owned()
    });
    let result = read_all(&path, WorkbookFormat::Xlsx, None);
    assert!(
        matches!(result, Err(WorkbookError::Corrupt(_))),
        "{result:?}"
    );
}

#[test]
fn error_messages_speak_to_a_sales_admin() {
    let corrupt = WorkbookError::Corrupt("invalid zip header".to_owned());
    assert_eq!(
        corrupt.to_string(),
        "the workbook cannot be read: invalid zip header"
    );
    assert!(!corrupt.is_unknown_sheet());
    assert!(!WorkbookError::NoWorksheet.is_unknown_sheet());
}

// --- ods and xls (converted by LibreOffice, see SOURCES.md) -----------------------

#[test]
fn ods_and_xls_read_like_the_xlsx_they_were_made_from() {
    for (name, format) in [
        ("sample.ods", WorkbookFormat::Ods),
        ("sample.xls", WorkbookFormat::Xls),
    ] {
        let path = fixture(name);
        assert_eq!(
            sheet_names(&path, format).unwrap(),
            vec![
                ("Lookup".to_owned(), false),
                ("Sales".to_owned(), true),
                ("Notes".to_owned(), true),
            ],
            "{name}"
        );
        let (sheet, rows) = read_all(&path, format, None).unwrap();
        assert_eq!(sheet, "Sales", "{name}");
        let mut expected = sample_sales();
        if format == WorkbookFormat::Ods {
            // LibreOffice has no boolean cells: it saved TRUE/FALSE as the numbers 1/0
            // shown with a boolean format, and the #N/A error as an empty string value
            // (office:string-value=""), which is what calamine reads.
            expected[1].1[3] = "1".to_owned();
            expected[2].1[3] = "0".to_owned();
            expected[3].1.truncate(3);
        }
        assert_eq!(rows, expected, "{name}");
        let notes = read_all(&path, format, Some(&SheetChoice::parse("3"))).unwrap();
        assert_eq!(
            notes,
            (
                "Notes".to_owned(),
                vec![(1, row(&["note"])), (3, row(&["", "second"]))]
            ),
            "{name}"
        );
        let rows = SheetRows::open(&path, format, None).unwrap();
        assert_eq!(rows.last_row_hint(), Some(10), "{name}");
    }
}

#[test]
fn sheet_rows_can_move_to_a_blocking_thread() {
    // The import engine reads files on a blocking thread (spawn_blocking).
    fn is_send<T: Send>() {}
    is_send::<SheetRows>();
    is_send::<WorkbookError>();
}
