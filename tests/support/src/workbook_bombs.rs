//! Hostile workbooks of issue 18, built in memory with the `zip` crate: each is a few
//! kilobytes that declares or unpacks to far more than a worker can hold. Every builder
//! returns the file's bytes; the sheet is always named `Sheet1`. Shared by the HTTP tests
//! (tests/api/workbooks.rs) and the hostile-input suite (tests/faults/hostile/); it depends
//! on the `zip` crate only.
//!
//! - [`shared_strings_bomb`]: an xlsx whose `<sst uniqueCount>` declares 10^12 strings.
//! - [`ods_repeat_bomb`]: an ods repeating one number cell 9,000 rows × 10,000 columns.
//! - [`ods_spaces_bomb`]: an ods whose one cell holds `<text:s text:c="10000000000"/>`.
//! - [`zip_bomb_xlsx`]: an xlsx whose 16 MB sheet packs about 1,000:1.
//! - [`lying_header_xlsx`]: an xlsx whose sheet's zip headers declare 100 bytes for 2 MB.
//! - [`oversized_part_xlsx`]: an xlsx whose sheet's zip headers declare 3.5 GB.
//! - [`xls_corners_bomb`]: an xls (from a sample) with a cell moved to row and column 65,536.
//! - [`huge_dimension_xlsx`]: an xlsx whose sheet declares `<dimension ref="A1:XFD4000000000">`.
//! - [`many_entries_xlsx`]: an xlsx beside `count` one-byte zip entries.
//! - [`inflated_sheet_xlsx`]: an xlsx whose sheet unpacks to `megabytes` MB of whitespace.
//! - [`xlsx`], [`ods`], [`set_declared_size`]: the pieces, for more.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// A zip of `parts` (name, bytes), each deflated except those named `mimetype` (stored,
/// as OpenDocument wants it first and uncompressed).
pub fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in parts {
        let method = if *name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .compression_level((method == CompressionMethod::Deflated).then_some(9))
            .large_file(bytes.len() > u32::MAX as usize / 2);
        out.start_file(*name, options).unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The parts of a one-sheet xlsx besides its sheet and shared strings.
const CONTENT_TYPES: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const ROOT_RELS: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

/// A minimal xlsx with one worksheet `Sheet1` holding `sheet_xml` (a whole
/// `<worksheet>` document) and, when given, `shared_strings` as `xl/sharedStrings.xml`.
pub fn xlsx(sheet_xml: &[u8], shared_strings: Option<&[u8]>) -> Vec<u8> {
    xlsx_with(sheet_xml, shared_strings, &[])
}

/// [`xlsx`] with `extra` parts after its own.
fn xlsx_with(sheet_xml: &[u8], shared_strings: Option<&[u8]>, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", sheet_xml),
    ];
    if let Some(strings) = shared_strings {
        parts.push(("xl/sharedStrings.xml", strings));
    }
    parts.extend_from_slice(extra);
    zip_of(&parts)
}

/// A worksheet document of `rows` (the `<row>` elements) after an optional dimension.
pub fn sheet_xml(dimension: Option<&str>, rows: &str) -> Vec<u8> {
    let dimension = dimension
        .map(|d| format!(r#"<dimension ref="{d}"/>"#))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dimension}<sheetData>{rows}</sheetData></worksheet>"#
    )
    .into_bytes()
}

/// Two rows of inline strings: an opportunities header and one row.
const SMALL_ROWS: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Opportunity ID</t></is></c><c r="B1" t="inlineStr"><is><t>Opportunity Name</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>B-1</t></is></c><c r="B2" t="inlineStr"><is><t>Bomb</t></is></c></row>"#;

/// The 1.9 KB xlsx of issue 18: a shared strings table declaring 10^12 strings, which
/// calamine 0.36 reserves (24 TB) when it opens the workbook.
pub fn shared_strings_bomb() -> Vec<u8> {
    let strings = br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>Opportunity ID</t></si></sst>"#;
    let rows = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#;
    xlsx(&sheet_xml(None, rows), Some(strings))
}

/// An xlsx whose sheet declares dimensions far beyond Excel's 1,048,576 rows.
pub fn huge_dimension_xlsx() -> Vec<u8> {
    xlsx(&sheet_xml(Some("A1:XFD4000000000"), SMALL_ROWS), None)
}

/// A valid small xlsx beside `count` one-byte entries: the zip's directory alone is the
/// cost.
pub fn many_entries_xlsx(count: usize) -> Vec<u8> {
    let names: Vec<String> = (0..count).map(|i| format!("xl/media/pad{i}.bin")).collect();
    let pads: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"p"[..])).collect();
    xlsx_with(&sheet_xml(None, SMALL_ROWS), None, &pads)
}

/// An xlsx whose sheet holds `megabytes` MB of whitespace before its rows: past the size
/// of a part, and packing about 1,000:1. (Built by the fault suite and the bench: hundreds
/// of megabytes are too slow to make for every HTTP test run.)
#[allow(dead_code)]
pub fn inflated_sheet_xlsx(megabytes: usize) -> Vec<u8> {
    let mut rows = " ".repeat(megabytes * 1024 * 1024);
    rows.push_str(SMALL_ROWS);
    xlsx(&sheet_xml(None, &rows), None)
}

/// An xlsx whose 16 MB sheet (the same empty row again and again) packs to ~16 KB.
pub fn zip_bomb_xlsx() -> Vec<u8> {
    let filler = "<row/>".repeat(16 * 1024 * 1024 / 6);
    xlsx(&sheet_xml(None, &format!("{SMALL_ROWS}{filler}")), None)
}

/// An xlsx whose sheet holds 2 MB of rows but whose zip headers (local and central)
/// declare it 100 bytes unpacked.
pub fn lying_header_xlsx() -> Vec<u8> {
    let mut rows = String::from(SMALL_ROWS);
    let mut n = 3;
    while rows.len() < 2 * 1024 * 1024 {
        rows.push_str(&format!(
            r#"<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>L-{n}</t></is></c></row>"#
        ));
        n += 1;
    }
    let mut bytes = xlsx(&sheet_xml(None, &rows), None);
    set_declared_size(&mut bytes, "xl/worksheets/sheet1.xml", 100);
    bytes
}

/// An xlsx whose small sheet's zip headers declare 3.5 GB unpacked.
pub fn oversized_part_xlsx() -> Vec<u8> {
    let mut bytes = xlsx(&sheet_xml(None, SMALL_ROWS), None);
    set_declared_size(&mut bytes, "xl/worksheets/sheet1.xml", 3_500_000_000);
    bytes
}

/// Overwrites the unpacked size that the local and central headers of entry `name`
/// declare (a zip written by [`zip_of`]: sizes in the headers, no zip64).
pub fn set_declared_size(zip: &mut [u8], name: &str, size: u32) {
    let name = name.as_bytes();
    let mut patched = 0;
    let mut at = 0;
    while at + 46 <= zip.len() {
        let u16_at = |zip: &[u8], i: usize| usize::from(u16::from_le_bytes([zip[i], zip[i + 1]]));
        match &zip[at..at + 4] {
            b"PK\x03\x04"
                if zip[at + 30..].starts_with(name) && u16_at(zip, at + 26) == name.len() =>
            {
                zip[at + 22..at + 26].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            b"PK\x01\x02"
                if zip[at + 46..].starts_with(name) && u16_at(zip, at + 28) == name.len() =>
            {
                zip[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            _ => (),
        }
        at += 1;
    }
    assert_eq!(
        patched,
        2,
        "entry {:?} has a local and a central header",
        String::from_utf8_lossy(name)
    );
}

/// A minimal ods whose `content.xml` has one sheet `Sheet1` holding `rows` (the
/// `<table:table-row>` elements).
pub fn ods(rows: &str) -> Vec<u8> {
    let manifest = br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
        ),
        ("META-INF/manifest.xml", manifest),
        ("content.xml", content.as_bytes()),
    ])
}

/// The 1 KB ods of issue 18: one number cell repeated 10,000 columns × 9,000 rows (90
/// million cells, under calamine's own 100-million guard), all loaded when it is opened.
pub fn ods_repeat_bomb() -> Vec<u8> {
    ods(
        r#"<table:table-row table:number-rows-repeated="9000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="10000"><text:p>1</text:p></table:table-cell></table:table-row>"#,
    )
}

/// An ods whose one text cell holds ten billion spaces, as `<text:s text:c>` declares.
pub fn ods_spaces_bomb() -> Vec<u8> {
    ods(
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="10000000000"/>b</text:p></table:table-cell></table:table-row>"#,
    )
}

/// An `.xls` (a copy of `sample_xls`, any BIFF8 workbook with a cell in its first sheet)
/// whose second cell record in a sheet is moved to row 65,536, column 65,536: calamine 0.36 would
/// build a range from A1 to there (4.3 billion cells) when it opens the file.
pub fn xls_corners_bomb(sample_xls: &[u8]) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut container = cfb::CompoundFile::open(Cursor::new(sample_xls.to_vec())).unwrap();
    let mut stream = Vec::new();
    container
        .open_stream("/Workbook")
        .unwrap()
        .read_to_end(&mut stream)
        .unwrap();
    // Records: type (2 bytes), length (2), data. The first EOF ends the globals; the
    // second cell record of a sheet is moved, so that the sheet spans from its first.
    let mut at = 0;
    let mut in_sheet = false;
    let mut cells_in_sheet = 0;
    let patched = loop {
        let typ = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = usize::from(u16::from_le_bytes([stream[at + 2], stream[at + 3]]));
        if typ == 0x000A {
            in_sheet = true;
            cells_in_sheet = 0;
        } else if in_sheet && [0x0203, 0x00FD, 0x027E, 0x0204].contains(&typ) {
            cells_in_sheet += 1;
            if cells_in_sheet == 2 {
                stream[at + 4..at + 8].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
                break at;
            }
        }
        at += 4 + len;
    };
    assert!(patched > 0);
    let mut writer = container.open_stream("/Workbook").unwrap();
    writer.seek(SeekFrom::Start(0)).unwrap();
    writer.write_all(&stream).unwrap();
    drop(writer);
    container.flush().unwrap();
    container.into_inner().into_inner()
}
