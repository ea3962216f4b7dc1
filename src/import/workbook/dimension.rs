//! The last row an xlsx worksheet declares in its `<dimension ref="A1:H10"/>` element,
//! for progress. calamine 0.36's streaming cell reader only looks for a `<dimension>`
//! start tag and misses the self-closing element that Excel and other writers produce,
//! so its dimensions are always A1:A1; this reads the element itself. Best effort: any
//! surprise in the file gives `None`, and the real reading reports real errors.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use quick_xml::encoding::Decoder;
use quick_xml::events::{BytesStart, Event};

type Archive = zip::ZipArchive<BufReader<File>>;

/// The 1-based last row declared by worksheet `sheet` of the xlsx at `path`.
pub(super) fn declared_last_row(path: &Path, sheet: &str) -> Option<u32> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(path).ok()?)).ok()?;
    let relation = sheet_relation(&mut zip, sheet)?;
    let target = relation_target(&mut zip, &relation)?;
    let part = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => format!("xl/{target}"),
    };
    let entry = open_entry(&mut zip, &part)?;
    dimension_last_row(BufReader::new(entry))
}

/// An entry by name, compared without case as calamine does.
fn open_entry<'a>(
    zip: &'a mut Archive,
    name: &str,
) -> Option<zip::read::ZipFile<'a, BufReader<File>>> {
    let index = (0..zip.len()).find(|&i| {
        zip.name_for_index(i)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })?;
    zip.by_index(index).ok()
}

/// Calls `visit` with each start or empty element of an XML entry until it returns
/// `Some`.
fn find_element<R: BufRead, T>(
    reader: R,
    mut visit: impl FnMut(&BytesStart<'_>, Decoder) -> Option<T>,
) -> Option<T> {
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) => {
                if let Some(found) = visit(&e, xml.decoder()) {
                    return Some(found);
                }
            }
            Event::Eof => return None,
            _ => (),
        }
    }
}

/// The value of the attribute whose local name is `name` (any prefix).
fn attribute(e: &BytesStart<'_>, decoder: Decoder, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The relationship id (`r:id`) of sheet `sheet` in `xl/workbook.xml`.
fn sheet_relation(zip: &mut Archive, sheet: &str) -> Option<String> {
    let entry = open_entry(zip, "xl/workbook.xml")?;
    find_element(BufReader::new(entry), |e, d| {
        (e.local_name().as_ref() == b"sheet" && attribute(e, d, b"name").as_deref() == Some(sheet))
            .then(|| attribute(e, d, b"id"))
            .flatten()
    })
}

/// The target of relationship `id` in `xl/_rels/workbook.xml.rels`.
fn relation_target(zip: &mut Archive, id: &str) -> Option<String> {
    let entry = open_entry(zip, "xl/_rels/workbook.xml.rels")?;
    find_element(BufReader::new(entry), |e, d| {
        (e.local_name().as_ref() == b"Relationship"
            && attribute(e, d, b"Id").as_deref() == Some(id))
        .then(|| attribute(e, d, b"Target"))
        .flatten()
    })
}

/// The row of the end of `<dimension ref>`, looked for before `<sheetData>` only.
fn dimension_last_row<R: BufRead>(reader: R) -> Option<u32> {
    find_element(reader, |e, d| match e.local_name().as_ref() {
        b"dimension" => Some(attribute(e, d, b"ref").and_then(|r| last_row_of(&r))),
        b"sheetData" => Some(None),
        _ => None,
    })
    .flatten()
}

/// `"A1:H10"` -> 10, `"B7"` -> 7.
fn last_row_of(reference: &str) -> Option<u32> {
    let end = reference.rsplit(':').next()?;
    let digits = end.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '$');
    digits.parse().ok().filter(|&row| row >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_rows_of_references() {
        assert_eq!(last_row_of("A1:H10"), Some(10));
        assert_eq!(last_row_of("B7"), Some(7));
        assert_eq!(last_row_of("$A$1:$XFD$1048576"), Some(1_048_576));
        assert_eq!(last_row_of("A0"), None);
        assert_eq!(last_row_of("A1:"), None);
        assert_eq!(last_row_of(""), None);
    }

    #[test]
    fn the_dimension_before_sheet_data_counts() {
        let xml = br#"<worksheet><sheetPr/><dimension ref="A1:C42"/><sheetData/></worksheet>"#;
        assert_eq!(dimension_last_row(&xml[..]), Some(42));
        let none = br#"<worksheet><sheetData><row r="1"/></sheetData></worksheet>"#;
        assert_eq!(dimension_last_row(&none[..]), None);
    }
}
