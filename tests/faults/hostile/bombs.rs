//! Files made to cost far more than their size, built here from scratch (nothing is
//! downloaded): each is what a hostile tenant admin could upload within the 20 MB limit.

use std::io::{Cursor, Read, Write};

use zip::{CompressionMethod, ZipArchive, ZipWriter, write::SimpleFileOptions};

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

/// A small valid .xlsx: the header and two rows, its strings shared.
pub fn xlsx_base() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Sheet1").unwrap();
    for (col, name) in ["Opportunity ID", "Opportunity Name", "Amount"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    for row in 1..=2u32 {
        sheet.write_string(row, 0, format!("XB-{row}")).unwrap();
        sheet.write_string(row, 1, "Deal").unwrap();
        sheet.write_number(row, 2, 10.0).unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

/// Every entry of the zip `bytes`, in order, as (name, content).
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().to_owned(), content)
        })
        .collect()
}

/// A zip of `entries`, deflated (ODS's `mimetype` stays first and stored).
fn zip_of(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        let method = if name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(content.len() > u32::MAX as usize / 2);
        zip.start_file(name, options).unwrap();
        zip.write_all(&content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The zip `bytes` with the entry `name` changed by `edit`.
fn edit_entry(bytes: &[u8], name: &str, edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let mut edit = Some(edit);
    let edited = entries(bytes).into_iter().map(|(n, content)| {
        if n == name {
            let text = String::from_utf8(content).unwrap();
            (n, (edit.take().unwrap())(text).into_bytes())
        } else {
            (n, content)
        }
    });
    let out = zip_of(edited.collect::<Vec<_>>());
    assert!(edit.is_none(), "the workbook has no {name}");
    out
}

/// The issue's 2 KB workbook: its shared strings table claims a trillion strings.
pub fn xlsx_shared_strings_claim() -> Vec<u8> {
    edit_entry(&xlsx_base(), "xl/sharedStrings.xml", |xml| {
        let start = xml.find("<sst").unwrap();
        let end = start + xml[start..].find('>').unwrap();
        let sst = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000""#;
        format!("{}{sst}{}", &xml[..start], &xml[end..])
    })
}

/// A sheet whose XML inflates to `megabytes` MB of padding from a few hundred KB.
pub fn xlsx_inflated_sheet(megabytes: usize) -> Vec<u8> {
    edit_entry(&xlsx_base(), "xl/worksheets/sheet1.xml", |xml| {
        let at = xml.find("<sheetData>").unwrap();
        let padding = " ".repeat(megabytes * 1_048_576);
        format!("{}{padding}{}", &xml[..at], &xml[at..])
    })
}

/// A sheet that declares (and holds a cell at) the last cell Excel has, and one past it.
pub fn xlsx_far_cells() -> Vec<u8> {
    edit_entry(&xlsx_base(), "xl/worksheets/sheet1.xml", |xml| {
        let start = xml.find("<dimension ref=\"").unwrap();
        let end = start + xml[start..].find("/>").unwrap() + 2;
        let xml = format!(
            "{}<dimension ref=\"A1:ZZZZ99999999\"/>{}",
            &xml[..start],
            &xml[end..]
        );
        xml.replace(
            "</sheetData>",
            r#"<row r="99999999"><c r="ZZZZ99999999" t="n"><v>1</v></c></row></sheetData>"#,
        )
    })
}

/// A zip of `count` tiny entries beside a valid workbook's.
pub fn xlsx_many_entries(count: usize) -> Vec<u8> {
    let mut all = entries(&xlsx_base());
    all.extend((0..count).map(|i| (format!("xl/media/pad{i}.bin"), vec![b'p'])));
    zip_of(all)
}

/// An .ods whose one cell is repeated `rows` × `columns` times.
pub fn ods_repeated_cell(ods: &[u8], rows: u64, columns: u64) -> Vec<u8> {
    edit_entry(ods, "content.xml", |xml| {
        let at = xml.find("</table:table>").unwrap();
        let bomb = format!(
            r#"<table:table-row table:number-rows-repeated="{rows}"><table:table-cell table:number-columns-repeated="{columns}" office:value-type="string"><text:p>boom</text:p></table:table-cell></table:table-row>"#
        );
        format!("{}{bomb}{}", &xml[..at], &xml[at..])
    })
}
