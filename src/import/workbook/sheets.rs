//! A workbook's sheet list read without calamine (issue 18): calamine reads the shared
//! strings of an xlsx, and every sheet of an ods or xls, when it opens one, so even a
//! sheet list costs what the whole file declares. The API checks a sheet choice at upload
//! with this instead; the worker still opens the file with calamine, after `budget`.
//!
//! - xlsx: `xl/workbook.xml` (its `<sheet>` elements: name, `state`, `r:id`) and
//!   `xl/_rels/workbook.xml.rels` (whose relationship type tells a worksheet from a chart
//!   sheet), each read through at most [`MAX_LIST_PART_BYTES`].
//! - ods: the `table:table` elements of `content.xml`, streamed, and the
//!   `table:display="false"` of their table styles, read through the part limits of
//!   `budget`.
//! - xls (BIFF8): the BoundSheet8 records of the workbook stream's globals, read with the
//!   `cfb` crate after `xls_guard`.
//!
//! The zip's directory is checked first (`budget::check_directory`). The rules for what
//! counts as a worksheet and as visible are calamine's, so the list is the one
//! `SheetRows::open` chooses from.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use super::budget;
use super::{WorkbookError, WorkbookFormat, xls_guard};

/// The most `xl/workbook.xml` or its relationships may unpack to for a sheet list: a
/// workbook part holds sheet names and defined names, a few kilobytes in practice.
pub(crate) const MAX_LIST_PART_BYTES: u64 = 16 * 1024 * 1024;

/// The worksheets (not chart sheets) of the workbook, in workbook order, each with `true`
/// when it is visible; [`WorkbookError::NoWorksheet`] when there are none.
pub(super) fn list(
    path: &Path,
    format: WorkbookFormat,
) -> Result<Vec<(String, bool)>, WorkbookError> {
    let sheets = match format {
        WorkbookFormat::Xlsx => xlsx(path)?,
        WorkbookFormat::Ods => ods(path)?,
        WorkbookFormat::Xls => xls(path)?,
    };
    if sheets.is_empty() {
        return Err(WorkbookError::NoWorksheet);
    }
    Ok(sheets)
}

fn corrupt(what: impl std::fmt::Display) -> WorkbookError {
    WorkbookError::Corrupt(what.to_string())
}

type Archive = zip::ZipArchive<BufReader<File>>;

fn archive(path: &Path) -> Result<Archive, WorkbookError> {
    budget::check_directory(path)?;
    zip::ZipArchive::new(BufReader::new(File::open(path)?)).map_err(corrupt)
}

/// An entry by name, compared without case as calamine does, read whole through at most
/// `limit` bytes (a longer one is refused, whatever its header says).
fn read_entry(zip: &mut Archive, name: &str, limit: u64) -> Result<Option<Vec<u8>>, WorkbookError> {
    let Some(index) = (0..zip.len()).find(|&i| {
        zip.name_for_index(i)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) else {
        return Ok(None);
    };
    let entry = zip.by_index(index).map_err(corrupt)?;
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(format!("its part {name} is damaged ({e})")))?;
    if bytes.len() as u64 > limit {
        return Err(WorkbookError::OverLimit(format!(
            "its part {name} unpacks to more than {} (limit for it)",
            budget::size_text(limit)
        )));
    }
    Ok(Some(bytes))
}

/// The value of the attribute named `name` (exactly, with its prefix), unescaped.
fn attribute(xml: &quick_xml::Reader<&[u8]>, e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, xml.decoder())
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The value of the attribute whose local name is `name` (any prefix), unescaped.
fn local_attribute(
    xml: &quick_xml::Reader<&[u8]>,
    e: &BytesStart<'_>,
    name: &[u8],
) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, xml.decoder())
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Calls `visit` with every start or empty element of `bytes`.
fn each_element(
    name: &str,
    bytes: &[u8],
    mut visit: impl FnMut(&quick_xml::Reader<&[u8]>, &BytesStart<'_>) -> Result<(), WorkbookError>,
) -> Result<(), WorkbookError> {
    let mut xml = quick_xml::Reader::from_reader(bytes);
    xml.config_mut().check_end_names = false;
    loop {
        match xml.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => visit(&xml, &e)?,
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => (),
            Err(e) => {
                return Err(corrupt(format!(
                    "its part {name} is not well-formed XML ({e})"
                )));
            }
        }
    }
}

fn xlsx(path: &Path) -> Result<Vec<(String, bool)>, WorkbookError> {
    let mut zip = archive(path)?;
    let rels_name = "xl/_rels/workbook.xml.rels";
    let rels = read_entry(&mut zip, rels_name, MAX_LIST_PART_BYTES)?
        .ok_or_else(|| corrupt("it has no workbook relationships"))?;
    let mut types: HashMap<String, String> = HashMap::new();
    each_element(rels_name, &rels, |xml, e| {
        if e.local_name().as_ref() == b"Relationship"
            && let (Some(id), Some(typ)) = (attribute(xml, e, b"Id"), attribute(xml, e, b"Type"))
        {
            types.insert(id, typ);
        }
        Ok(())
    })?;
    let book_name = "xl/workbook.xml";
    let book = read_entry(&mut zip, book_name, MAX_LIST_PART_BYTES)?
        .ok_or_else(|| corrupt("it has no xl/workbook.xml"))?;
    let mut sheets = Vec::new();
    each_element(book_name, &book, |xml, e| {
        if e.local_name().as_ref() != b"sheet" {
            return Ok(());
        }
        let name = attribute(xml, e, b"name").unwrap_or_default();
        let visible = match attribute(xml, e, b"state").as_deref() {
            None | Some("visible") => true,
            Some("hidden" | "veryHidden") => false,
            Some(other) => return Err(corrupt(format!("a sheet's state is \"{other}\""))),
        };
        let id = local_attribute(xml, e, b"id").unwrap_or_default();
        let typ = types
            .get(&id)
            .ok_or_else(|| corrupt(format!("the sheet \"{name}\" has no relationship")))?;
        match typ.rsplit('/').next() {
            Some("worksheet") => sheets.push((name, visible)),
            Some("chartsheet" | "dialogsheet") => (),
            _ => {
                return Err(corrupt(format!(
                    "the sheet \"{name}\" is of unknown type {typ}"
                )));
            }
        }
        Ok(())
    })?;
    Ok(sheets)
}

fn ods(path: &Path) -> Result<Vec<(String, bool)>, WorkbookError> {
    let mut zip = archive(path)?;
    let Some(index) = zip.index_for_name("content.xml") else {
        return Err(corrupt("it has no content.xml"));
    };
    let entry = zip.by_index(index).map_err(corrupt)?;
    let declared = entry.size();
    // Read through the limits a worker applies to the part (declared size, per part, runs
    // without markup; see `budget`).
    let mut part = budget::Counted::new(
        entry,
        "content.xml".to_owned(),
        declared,
        budget::MAX_TOTAL_BYTES,
    );
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(&mut part));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    let mut hidden_styles: HashSet<Vec<u8>> = HashSet::new();
    let mut style: Option<Vec<u8>> = None;
    let mut sheets = Vec::new();
    let mut buf = Vec::new();
    let mut depth_in_table = 0usize;
    loop {
        buf.clear();
        let event = xml.read_event_into(&mut buf);
        let is_start = matches!(event, Ok(Event::Start(_)));
        match event {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.name().as_ref() {
                b"style:style" => {
                    style = raw(&e, b"style:name");
                }
                b"style:table-properties" => {
                    if let Some(name) = &style
                        && raw(&e, b"table:display").as_deref() == Some(b"false")
                    {
                        hidden_styles.insert(name.clone());
                    }
                }
                b"table:table" if depth_in_table == 0 => {
                    if let Some(name) = raw(&e, b"table:name") {
                        let visible = raw(&e, b"table:style-name")
                            .is_none_or(|s| !hidden_styles.contains(&s));
                        let name = quick_xml::escape::unescape(&String::from_utf8_lossy(&name))
                            .map(|n| n.into_owned())
                            .map_err(|e| corrupt(format!("a sheet name is damaged ({e})")))?;
                        sheets.push((name, visible));
                    }
                    if is_start {
                        depth_in_table = 1;
                    }
                }
                b"table:table" => depth_in_table += 1,
                _ => (),
            },
            Ok(Event::End(e)) if e.name().as_ref() == b"table:table" => {
                depth_in_table = depth_in_table.saturating_sub(1);
            }
            Ok(Event::Eof) => break,
            Ok(_) => (),
            Err(e) => {
                if let Some(refusal) = xml.get_mut().get_mut().refusal.take() {
                    return Err(refusal);
                }
                return Err(corrupt(format!(
                    "its part content.xml is not well-formed XML ({e})"
                )));
            }
        }
    }
    Ok(sheets)
}

fn raw(e: &BytesStart<'_>, name: &[u8]) -> Option<Vec<u8>> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// BIFF record types ([MS-XLS] 2.3).
const BOUNDSHEET8: u16 = 0x0085;
const EOF: u16 = 0x000A;
const FILEPASS: u16 = 0x002F;

fn xls(path: &Path) -> Result<Vec<(String, bool)>, WorkbookError> {
    // Recognises an encrypted xlsx and impossible dimensions first.
    xls_guard::check(path)?;
    let mut container =
        cfb::CompoundFile::open(BufReader::new(File::open(path)?)).map_err(corrupt)?;
    if !container.is_stream("/Workbook") {
        // A BIFF5 "Book" (names in a code page) or no workbook at all: the worker's
        // calamine reports either.
        return Err(corrupt("it is not an Excel 97-2003 (BIFF8) workbook"));
    }
    let mut stream = BufReader::new(container.open_stream("/Workbook").map_err(corrupt)?);
    let mut header = [0u8; 4];
    let mut data = Vec::new();
    let mut sheets = Vec::new();
    loop {
        match stream.read_exact(&mut header) {
            Ok(()) => (),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(corrupt(e)),
        }
        let typ = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        data.resize(len, 0);
        stream.read_exact(&mut data).map_err(corrupt)?;
        match typ {
            FILEPASS => return Err(WorkbookError::Encrypted),
            EOF => break,
            BOUNDSHEET8 => {
                if let Some(sheet) = bound_sheet(&data)? {
                    sheets.push(sheet);
                }
            }
            _ => (),
        }
    }
    Ok(sheets)
}

/// A BoundSheet8 record ([MS-XLS] 2.4.28): `Some((name, visible))` for a worksheet,
/// `None` for a chart, macro or VBA sheet, as calamine reads it.
fn bound_sheet(data: &[u8]) -> Result<Option<(String, bool)>, WorkbookError> {
    let damaged = || corrupt("a sheet record is damaged");
    if data.len() < 8 {
        return Err(damaged());
    }
    let visible = match data[4] & 0b0011_1111 {
        0x00 => true,
        0x01 | 0x02 => false,
        _ => return Err(damaged()),
    };
    let worksheet = match data[5] {
        0x00 => true,
        0x01 | 0x02 | 0x06 => false,
        _ => return Err(damaged()),
    };
    let chars = usize::from(data[6]);
    let wide = data[7] & 1 == 1;
    let text = &data[8..];
    let name = if wide {
        let units: Vec<u16> = text
            .chunks_exact(2)
            .take(chars)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if units.len() < chars {
            return Err(damaged());
        }
        String::from_utf16_lossy(&units)
    } else {
        if text.len() < chars {
            return Err(damaged());
        }
        // "Compressed" UTF-16: each byte is a code point below 256.
        text[..chars].iter().map(|&b| char::from(b)).collect()
    };
    Ok(worksheet.then_some((name, visible)))
}
