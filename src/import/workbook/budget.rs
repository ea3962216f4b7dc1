//! Bounds on a zip workbook (`.xlsx`, `.xlsm`, `.ods`), checked before calamine opens it
//! (issue 18).
//!
//! calamine trusts numbers a file declares and allocates from them: an xlsx's shared
//! strings table reserves room for the `uniqueCount` its `<sst>` element claims when the
//! workbook is opened, an ods sheet is expanded in memory with every
//! `number-rows-repeated` × `number-columns-repeated` of its non-empty cells (up to
//! calamine's own 100,000,000-cell guard) and with every `text:s text:c` space count, and a
//! zip entry may unpack to far more than it weighs. A failed allocation aborts the whole
//! process, which no `catch_unwind` stops. So the archive is checked here first, by
//! streaming, in bounded memory:
//!
//! - [`check_directory`]: the zip's central directory (entry count before the zip crate
//!   reads it, then each entry's declared size, their total and each entry's compression
//!   ratio). This is all the API does before it reads a sheet list.
//! - [`check`]: the directory, then every entry decompressed through a counter that
//!   refuses as soon as it holds more than its header declared or than the limits (so a
//!   lying header does not help), and that refuses a run of bytes without `<` or `>` longer
//!   than [`MAX_XML_RUN`] (an XML reader buffers a whole text node or tag). On the way the
//!   xlsx shared strings, the xlsx worksheets and the ods `content.xml` are scanned with
//!   quick-xml for the numbers calamine would trust.
//!
//! A file over a bound is [`WorkbookError::OverLimit`], whose message names the limit and
//! the value found. A file that is merely damaged is left to calamine to report, unless the
//! damage stops the scan itself (then it is [`WorkbookError::Corrupt`]): what was not
//! scanned is not read.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use super::{MAX_COLUMNS, WorkbookError, WorkbookFormat};

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;

/// The most entries a workbook's zip may list. An xlsx written by Excel or LibreOffice has
/// a dozen plus two or three per sheet; thousands mean something else. Checked from the
/// end-of-central-directory record before the zip crate reads the directory, since it
/// keeps a few hundred bytes per entry.
pub(crate) const MAX_ZIP_ENTRIES: u64 = 10_000;

/// The most one part of a workbook may unpack to (declared and actual). Sheet XML packs
/// about 5–10:1 (a 2.5 MB xlsx of 100,000 rows × 3 columns has a 12.6 MB sheet part), so
/// a 20 MB upload has parts well below this; worksheets are streamed, so size costs
/// time, not memory.
pub(crate) const MAX_PART_BYTES: u64 = 256 * MB;

/// The most all parts of a workbook together may unpack to (declared and actual).
pub(crate) const MAX_TOTAL_BYTES: u64 = 512 * MB;

/// The highest compression ratio (unpacked size / packed size) allowed for an entry of
/// more than [`RATIO_FLOOR`]. Spreadsheet XML packs 5–30:1; deflate tops out near 1,032:1,
/// which only repeated filler reaches.
pub(crate) const MAX_RATIO: u64 = 250;

/// Entries up to this unpacked size are not held to [`MAX_RATIO`]: small parts of
/// repeated markup (styles, empty sheets) legitimately pack very well.
pub(crate) const RATIO_FLOOR: u64 = MB;

/// The longest run of bytes without a `<` or without a `>` in a part. An XML reader holds
/// a whole text node or tag in memory; Excel's longest cell (32,767 characters, 4 bytes
/// each, escaped) stays far below.
pub(crate) const MAX_XML_RUN: u64 = 4 * MB;

/// The most strings an xlsx shared strings table may hold or declare. calamine keeps them
/// all for the whole import (about 56 bytes each plus the text) and reserves the declared
/// `uniqueCount` up front. A workbook of 100,000 rows with two distinct texts a row has
/// 200,003 (6.8 MB of XML; the import peaks at 33 MB).
pub(crate) const MAX_SHARED_STRINGS: u64 = 1_000_000;

/// The most text, in bytes of XML, an xlsx shared strings table may hold.
pub(crate) const MAX_SHARED_TEXT: u64 = 32 * MB;

/// The fewest bytes a shared string takes in the table (`<si/>`): a `uniqueCount` beyond
/// the part's size divided by this is a lie.
pub(crate) const MIN_SHARED_STRING_BYTES: u64 = 5;

/// Excel's last row (and calamine's row cap).
pub(crate) const MAX_ROWS: u64 = 1_048_576;

/// The most text one xlsx cell may hold, in bytes of XML (Excel's limit is 32,767
/// characters; calamine joins every run of an inline rich string into one).
pub(crate) const MAX_CELL_TEXT: u64 = MB;

/// The most cells calamine may hold for the sheets of an ods, which it loads whole when
/// the file is opened: the used area of each sheet (from its first to its last non-empty
/// row and column, repeats expanded) plus the cells of its rows as written, each a
/// calamine `Data` (32 bytes) and a formula `String` (24 bytes). Measured: an ods of
/// 124,001 rows × 4 columns (992,008 cells by this count) imports at an 81 MB peak, which
/// stays inside a 256 MB worker running two jobs.
pub(crate) const MAX_ODS_CELLS: u64 = 1_000_000;

/// The most cell text (values, formulas, and spaces of `text:s`) calamine may copy for the
/// sheets of an ods, repeats expanded.
pub(crate) const MAX_ODS_TEXT: u64 = 32 * MB;

/// The size of the tail of a zip that may hold the end-of-central-directory record: the
/// record (22 bytes), its comment (up to 65,535) and a zip64 locator (20).
const EOCD_SEARCH: u64 = 22 + 65_535 + 20;

/// A refusal, worded for a sales admin.
fn over(message: String) -> WorkbookError {
    WorkbookError::OverLimit(message)
}

/// A size in bytes for a message: "812 bytes", "1.9 KB", "256.0 MB".
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes < KB {
        format!("{bytes} bytes")
    } else if bytes < MB {
        format!("{:.1} KB", bytes as f64 / KB as f64)
    } else if bytes < 1024 * MB {
        format!("{:.1} MB", bytes as f64 / MB as f64)
    } else {
        format!("{:.1} GB", bytes as f64 / (1024 * MB) as f64)
    }
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The most entries any end-of-central-directory record near the end of the file
/// declares (the zip crate may settle on any of them), following zip64 locators. `None`
/// when there is none: then the zip crate refuses the file itself.
pub(crate) fn declared_entries(path: &Path) -> io::Result<Option<u64>> {
    let mut file = File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(EOCD_SEARCH);
    let tail_start = len - tail_len;
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact(&mut tail)?;
    let mut most: Option<u64> = None;
    let Some(last) = tail.len().checked_sub(22) else {
        return Ok(None);
    };
    for at in (0..=last).rev() {
        if tail[at..at + 4] != *b"PK\x05\x06" {
            continue;
        }
        let mut entries = le16(&tail, at + 10).max(le16(&tail, at + 8));
        // A zip64 archive puts 0xFFFF here and the real count in its zip64 record.
        if at >= 20 && tail[at - 20..at - 16] == *b"PK\x06\x07" {
            let record = le64(&tail, at - 20 + 8);
            let mut buf = [0u8; 56];
            if record < len
                && file.seek(SeekFrom::Start(record)).is_ok()
                && file.read_exact(&mut buf).is_ok()
                && buf[..4] == *b"PK\x06\x06"
            {
                entries = entries.max(le64(&buf, 24)).max(le64(&buf, 32));
            }
        }
        most = Some(most.map_or(entries, |m| m.max(entries)));
    }
    Ok(most)
}

/// The refusal for an archive listing too many entries, if it does.
pub(crate) fn check_entry_count(path: &Path) -> Result<(), WorkbookError> {
    match declared_entries(path)? {
        Some(entries) if entries > MAX_ZIP_ENTRIES => Err(over(format!(
            "its zip archive lists {entries} entries, more than the limit of {MAX_ZIP_ENTRIES}"
        ))),
        _ => Ok(()),
    }
}

type Archive = zip::ZipArchive<BufReader<File>>;

/// Opens the archive after [`check_entry_count`]; a file the zip crate cannot list is
/// left for calamine to report (`Ok(None)`).
fn open_archive(path: &Path) -> Result<Option<Archive>, WorkbookError> {
    check_entry_count(path)?;
    Ok(zip::ZipArchive::new(BufReader::new(File::open(path)?)).ok())
}

/// Checks the directory of the zip at `path`: entry count, each entry's declared
/// unpacked size and compression ratio, and their total. Cheap: nothing is unpacked.
pub(crate) fn check_directory(path: &Path) -> Result<(), WorkbookError> {
    let Some(mut zip) = open_archive(path)? else {
        return Ok(());
    };
    check_archive_directory(&mut zip)
}

fn check_archive_directory(zip: &mut Archive) -> Result<(), WorkbookError> {
    if zip.len() as u64 > MAX_ZIP_ENTRIES {
        return Err(over(format!(
            "its zip archive lists {} entries, more than the limit of {MAX_ZIP_ENTRIES}",
            zip.len()
        )));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(i) else {
            // calamine reports a damaged entry when it needs it.
            continue;
        };
        let (name, size, packed) = (
            entry.name().to_owned(),
            entry.size(),
            entry.compressed_size(),
        );
        if size > MAX_PART_BYTES {
            return Err(over(format!(
                "its part {name} declares {} unpacked, more than the limit of {} per part",
                size_text(size),
                size_text(MAX_PART_BYTES)
            )));
        }
        total = total.saturating_add(size);
        if total > MAX_TOTAL_BYTES {
            return Err(over(format!(
                "its parts declare more than {} unpacked in all (limit)",
                size_text(MAX_TOTAL_BYTES)
            )));
        }
        if size > RATIO_FLOOR && size / packed.max(1) > MAX_RATIO {
            return Err(over(format!(
                "its part {name} unpacks from {} to {} ({}:1), more than the limit of {MAX_RATIO}:1",
                size_text(packed),
                size_text(size),
                size / packed.max(1)
            )));
        }
    }
    Ok(())
}

/// Checks the whole zip workbook at `path` read as `format` (see the module's
/// documentation). `Xls` has nothing to check here (see `xls_guard`).
pub(crate) fn check(path: &Path, format: WorkbookFormat) -> Result<(), WorkbookError> {
    if format == WorkbookFormat::Xls {
        return Ok(());
    }
    let Some(mut zip) = open_archive(path)? else {
        return Ok(());
    };
    check_archive_directory(&mut zip)?;
    let mut used: u64 = 0;
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index(i) else {
            continue;
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_owned();
        let declared = entry.size();
        let total_left = MAX_TOTAL_BYTES.saturating_sub(used);
        let mut part = Counted::new(entry, name.clone(), declared, total_left);
        let lower = name.to_ascii_lowercase();
        let scanned = match format {
            WorkbookFormat::Xlsx if lower.ends_with("sharedstrings.xml") => {
                scan_shared_strings(&mut part, declared)
            }
            WorkbookFormat::Xlsx if lower.contains("worksheets/") && lower.ends_with(".xml") => {
                scan_worksheet(&mut part)
            }
            WorkbookFormat::Ods if lower == "content.xml" => scan_ods_content(&mut part),
            _ => io::copy(&mut part, &mut io::sink())
                .map(drop)
                .map_err(|e| WorkbookError::Corrupt(format!("its part {name} is damaged ({e})"))),
        };
        if let Some(refusal) = part.refusal.take() {
            return Err(refusal);
        }
        scanned?;
        used = used.saturating_add(part.count);
    }
    Ok(())
}

/// A part being unpacked: counts its bytes and refuses (by failing the read and keeping
/// the refusal in `refusal`) past its declared size, [`MAX_PART_BYTES`], what is left of
/// [`MAX_TOTAL_BYTES`], or a run of [`MAX_XML_RUN`] bytes without `<` or `>`.
pub(super) struct Counted<R> {
    inner: R,
    name: String,
    declared: u64,
    total_left: u64,
    count: u64,
    since_open: u64,
    since_close: u64,
    pub(super) refusal: Option<WorkbookError>,
}

impl<R: Read> Counted<R> {
    pub(super) fn new(inner: R, name: String, declared: u64, total_left: u64) -> Self {
        Counted {
            inner,
            name,
            declared,
            total_left,
            count: 0,
            since_open: 0,
            since_close: 0,
            refusal: None,
        }
    }

    fn refuse(&mut self, message: String) -> io::Error {
        self.refusal = Some(over(message));
        io::Error::other("over a workbook limit")
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.refusal.is_some() {
            return Err(io::Error::other("over a workbook limit"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.declared {
            let message = format!(
                "its part {} unpacks to more than the {} its zip header declares",
                self.name,
                size_text(self.declared)
            );
            return Err(self.refuse(message));
        }
        if self.count > MAX_PART_BYTES {
            let message = format!(
                "its part {} unpacks to more than the limit of {} per part",
                self.name,
                size_text(MAX_PART_BYTES)
            );
            return Err(self.refuse(message));
        }
        if self.count > self.total_left {
            let message = format!(
                "its parts unpack to more than {} in all (limit)",
                size_text(MAX_TOTAL_BYTES)
            );
            return Err(self.refuse(message));
        }
        for &b in &buf[..n] {
            self.since_open = if b == b'<' { 0 } else { self.since_open + 1 };
            self.since_close = if b == b'>' { 0 } else { self.since_close + 1 };
        }
        if self.since_open > MAX_XML_RUN || self.since_close > MAX_XML_RUN {
            let message = format!(
                "its part {} has a run of more than {} without markup (limit)",
                self.name,
                size_text(MAX_XML_RUN)
            );
            return Err(self.refuse(message));
        }
        Ok(n)
    }
}

/// A quick-xml reader over a part, configured as leniently as calamine's readers.
fn xml_reader<R: Read>(part: R) -> quick_xml::Reader<BufReader<R>> {
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(part));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    config.trim_text(false);
    xml
}

/// The scan of a part stopped on XML that does not parse (or on a refusal, which the
/// caller reports instead).
fn not_xml(part: &str, e: quick_xml::Error) -> WorkbookError {
    WorkbookError::Corrupt(format!("its part {part} is not well-formed XML ({e})"))
}

/// The raw value of the attribute named exactly `name` (with its prefix).
fn raw_attr<'a>(e: &'a BytesStart<'_>, name: &[u8]) -> Option<std::borrow::Cow<'a, [u8]>> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| a.value)
}

/// A decimal number as calamine's parsers would read it; anything else is `None`
/// (calamine then fails or ignores it itself). Saturates instead of overflowing.
fn number(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(raw.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The shared strings table: declared `uniqueCount` against the part's size and
/// [`MAX_SHARED_STRINGS`], the strings it holds and their text against the limits.
fn scan_shared_strings<R: Read>(part: &mut Counted<R>, size: u64) -> Result<(), WorkbookError> {
    let name = part.name.clone();
    let mut xml = xml_reader(part);
    let mut buf = Vec::new();
    let mut strings: u64 = 0;
    let mut text: u64 = 0;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                b"sst" => {
                    if let Some(declared) = raw_attr(&e, b"uniqueCount").and_then(|v| number(&v)) {
                        if declared > size / MIN_SHARED_STRING_BYTES {
                            return Err(over(format!(
                                "its shared strings table declares {declared} strings, more than \
                                 its {} part can hold (a string takes at least \
                                 {MIN_SHARED_STRING_BYTES} bytes; limit: {MAX_SHARED_STRINGS} \
                                 strings)",
                                size_text(size)
                            )));
                        }
                        if declared > MAX_SHARED_STRINGS {
                            return Err(over(format!(
                                "its shared strings table declares {declared} strings, more than \
                                 the limit of {MAX_SHARED_STRINGS}"
                            )));
                        }
                    }
                }
                b"si" => {
                    strings += 1;
                    if strings > MAX_SHARED_STRINGS {
                        return Err(over(format!(
                            "its shared strings table holds more than {MAX_SHARED_STRINGS} \
                             strings (limit)"
                        )));
                    }
                }
                _ => (),
            },
            Ok(Event::Text(t)) => text += t.len() as u64,
            Ok(Event::CData(t)) => text += t.len() as u64,
            Ok(Event::GeneralRef(t)) => text += t.len() as u64,
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => (),
            Err(e) => return Err(not_xml(&name, e)),
        }
        if text > MAX_SHARED_TEXT {
            return Err(over(format!(
                "its shared strings hold more than {} of text (limit)",
                size_text(MAX_SHARED_TEXT)
            )));
        }
    }
}

/// `"XFD1048576"` (or `"$A$1"`) as 1-based (row, column); `None` when it is not a cell
/// reference. Saturates on absurd numbers.
pub(crate) fn cell_position(reference: &[u8]) -> Option<(u64, u64)> {
    let reference: Vec<u8> = reference.iter().copied().filter(|&b| b != b'$').collect();
    let letters = reference
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    if letters == 0 {
        return None;
    }
    let column = reference[..letters].iter().fold(0u64, |n, b| {
        n.saturating_mul(26)
            .saturating_add(u64::from(b.to_ascii_uppercase() - b'A' + 1))
    });
    let row = number(&reference[letters..])?;
    Some((row, column))
}

/// Refuses a cell position beyond Excel's sheet.
fn check_position(part: &str, what: &str, reference: &[u8]) -> Result<(), WorkbookError> {
    if let Some((row, column)) = cell_position(reference)
        && (row > MAX_ROWS || column > u64::from(MAX_COLUMNS))
    {
        return Err(over(format!(
            "its sheet part {part} has {what} {}, beyond Excel's last cell XFD{MAX_ROWS} \
             (limit: {MAX_ROWS} rows, {MAX_COLUMNS} columns)",
            String::from_utf8_lossy(reference)
        )));
    }
    Ok(())
}

/// An xlsx worksheet: its declared dimension and its cell and row references within
/// Excel's limits, each cell's text within [`MAX_CELL_TEXT`].
fn scan_worksheet<R: Read>(part: &mut Counted<R>) -> Result<(), WorkbookError> {
    let name = part.name.clone();
    let mut xml = xml_reader(part);
    let mut buf = Vec::new();
    let mut cell_text: u64 = 0;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                b"dimension" => {
                    if let Some(reference) = raw_attr(&e, b"ref") {
                        for end in reference.split(|&b| b == b':') {
                            check_position(&name, "a declared dimension reaching", end)?;
                        }
                    }
                }
                b"c" => {
                    cell_text = 0;
                    if let Some(reference) = raw_attr(&e, b"r") {
                        check_position(&name, "a cell", &reference)?;
                    }
                }
                b"row" => {
                    if let Some(row) = raw_attr(&e, b"r").and_then(|r| number(&r))
                        && row > MAX_ROWS
                    {
                        return Err(over(format!(
                            "its sheet part {name} has a row {row}, beyond Excel's last row \
                             (limit: {MAX_ROWS})"
                        )));
                    }
                }
                _ => (),
            },
            Ok(Event::Text(t)) => cell_text += t.len() as u64,
            Ok(Event::CData(t)) => cell_text += t.len() as u64,
            Ok(Event::GeneralRef(t)) => cell_text += t.len() as u64,
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => (),
            Err(e) => return Err(not_xml(&name, e)),
        }
        if cell_text > MAX_CELL_TEXT {
            return Err(over(format!(
                "its sheet part {name} has a cell of more than {} of text (limit)",
                size_text(MAX_CELL_TEXT)
            )));
        }
    }
}

/// What an ods sheet costs calamine, as its reader would build it.
#[derive(Default)]
struct OdsTable {
    name: String,
    /// Rows so far, repeats included, capped at [`MAX_ROWS`] as calamine caps them.
    rows: u64,
    /// The first row (0-based) with a non-empty cell, and one past the last.
    first_row: Option<u64>,
    end_row: u64,
    /// The first and last columns (0-based) with a non-empty cell.
    first_column: u64,
    last_column: u64,
    /// Cells of the rows as written (before repeats), which calamine holds too.
    written: u64,
}

impl OdsTable {
    fn used_area(&self) -> u64 {
        match self.first_row {
            Some(first) => (self.end_row - first)
                .saturating_mul(self.last_column.saturating_sub(self.first_column) + 1),
            None => 0,
        }
    }

    fn cells(&self) -> u64 {
        self.used_area().saturating_add(self.written)
    }
}

/// The row being read in an ods sheet.
#[derive(Default)]
struct OdsRow {
    repeats: u64,
    /// Columns so far (capped at [`MAX_COLUMNS`]).
    columns: u64,
    /// The first and one past the last non-empty column, if any.
    first: Option<u64>,
    end: u64,
}

/// The cell being read in an ods row.
struct OdsCell {
    repeats: u64,
    non_empty: bool,
    /// Bytes calamine copies for each repeat: attribute values, text, `text:s` spaces.
    bytes: u64,
    /// Whether calamine reads the cell's content (a string cell without a value
    /// attribute); otherwise its text is not kept.
    reads_text: bool,
}

/// The ods `content.xml`: per sheet, the cells calamine would hold once repeats are
/// expanded and the text it would copy, summed over the sheets (all of which calamine
/// loads when the file is opened); non-empty cells repeated beyond Excel's rows or
/// columns. Empty rows and cells repeated to the end of the sheet, as LibreOffice writes
/// them, cost nothing: calamine neither stores nor expands them.
fn scan_ods_content<R: Read>(part: &mut Counted<R>) -> Result<(), WorkbookError> {
    let name = part.name.clone();
    let mut xml = xml_reader(part);
    xml.config_mut().expand_empty_elements = true;
    let mut buf = Vec::new();
    let mut total_cells: u64 = 0;
    let mut total_text: u64 = 0;
    let mut table: Option<OdsTable> = None;
    let mut row: Option<OdsRow> = None;
    let mut cell: Option<OdsCell> = None;
    loop {
        buf.clear();
        let event = match xml.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(e) => return Err(not_xml(&name, e)),
        };
        match event {
            Event::Start(e) => match e.name().as_ref() {
                b"table:table" => {
                    let sheet = raw_attr(&e, b"table:name")
                        .map(|n| String::from_utf8_lossy(&n).into_owned())
                        .unwrap_or_default();
                    table = Some(OdsTable {
                        name: sheet,
                        ..OdsTable::default()
                    });
                }
                b"table:table-row" if table.is_some() => {
                    let repeats = raw_attr(&e, b"table:number-rows-repeated")
                        .and_then(|v| number(&v))
                        .unwrap_or(1);
                    row = Some(OdsRow {
                        repeats,
                        ..OdsRow::default()
                    });
                }
                b"table:table-cell" | b"table:covered-table-cell" if row.is_some() => {
                    let mut non_empty = false;
                    let mut bytes = 0;
                    let mut repeats = 1;
                    let mut is_string = false;
                    let mut value_set = false;
                    for a in e.attributes().flatten() {
                        match a.key.as_ref() {
                            b"table:number-columns-repeated" => {
                                repeats = number(&a.value).unwrap_or(1);
                            }
                            // Numbers and booleans are held without text.
                            b"office:value" | b"office:boolean-value" => {
                                non_empty = true;
                                value_set = true;
                            }
                            b"office:string-value"
                            | b"office:date-value"
                            | b"office:time-value" => {
                                non_empty = true;
                                value_set = true;
                                bytes += a.value.len() as u64;
                            }
                            b"table:formula" => {
                                non_empty = true;
                                bytes += a.value.len() as u64;
                            }
                            b"office:value-type" if a.value.as_ref() == b"string" => {
                                non_empty = true;
                                is_string = true;
                            }
                            _ => (),
                        }
                    }
                    cell = Some(OdsCell {
                        repeats,
                        non_empty,
                        bytes,
                        reads_text: is_string && !value_set,
                    });
                }
                b"text:s" => {
                    if let Some(cell) = cell.as_mut().filter(|c| c.reads_text) {
                        let spaces = raw_attr(&e, b"text:c")
                            .and_then(|v| number(&v))
                            .unwrap_or(1);
                        cell.bytes = cell.bytes.saturating_add(spaces);
                    }
                }
                _ => (),
            },
            Event::Text(t) => {
                if let Some(cell) = cell.as_mut().filter(|c| c.reads_text) {
                    cell.bytes = cell.bytes.saturating_add(t.len() as u64);
                }
            }
            Event::GeneralRef(t) => {
                if let Some(cell) = cell.as_mut().filter(|c| c.reads_text) {
                    cell.bytes = cell.bytes.saturating_add(t.len() as u64);
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"table:table-cell" | b"table:covered-table-cell" => {
                    let (Some(done), Some(current), Some(sheet)) =
                        (cell.take(), row.as_mut(), table.as_ref())
                    else {
                        continue;
                    };
                    let room = u64::from(MAX_COLUMNS).saturating_sub(current.columns);
                    if done.non_empty {
                        if done.repeats > room {
                            return Err(over(format!(
                                "its sheet \"{}\" repeats a non-empty cell beyond Excel's last \
                                 column (limit: {MAX_COLUMNS} columns)",
                                sheet.name
                            )));
                        }
                        current.first.get_or_insert(current.columns);
                        current.end = current.columns + done.repeats;
                        let copies = done.repeats.saturating_mul(current.repeats);
                        total_text = total_text.saturating_add(done.bytes.saturating_mul(copies));
                        if total_text > MAX_ODS_TEXT {
                            return Err(over(format!(
                                "its sheets would take more than {} of cell text once their \
                                 repeated cells are expanded (limit)",
                                size_text(MAX_ODS_TEXT)
                            )));
                        }
                    }
                    current.columns += done.repeats.min(room);
                }
                b"table:table-row" => {
                    let (Some(done), Some(sheet)) = (row.take(), table.as_mut()) else {
                        continue;
                    };
                    let room = MAX_ROWS.saturating_sub(sheet.rows);
                    if let Some(first) = done.first {
                        if done.repeats > room {
                            return Err(over(format!(
                                "its sheet \"{}\" repeats a non-empty row beyond Excel's last row \
                                 (limit: {MAX_ROWS} rows)",
                                sheet.name
                            )));
                        }
                        if sheet.first_row.is_none() {
                            sheet.first_row = Some(sheet.rows);
                            sheet.first_column = first;
                            sheet.last_column = done.end - 1;
                        }
                        sheet.first_column = sheet.first_column.min(first);
                        sheet.last_column = sheet.last_column.max(done.end - 1);
                        sheet.end_row = sheet.rows + done.repeats;
                        sheet.written = sheet.written.saturating_add(done.end);
                    }
                    sheet.rows += done.repeats.min(room);
                    if total_cells.saturating_add(sheet.cells()) > MAX_ODS_CELLS {
                        return Err(over(format!(
                            "its sheet \"{}\" would take more than {MAX_ODS_CELLS} cells in \
                             memory once its repeated rows and cells are expanded (limit: \
                             {MAX_ODS_CELLS} cells for all sheets)",
                            sheet.name
                        )));
                    }
                }
                b"table:table" => {
                    if let Some(sheet) = table.take() {
                        total_cells = total_cells.saturating_add(sheet.cells());
                    }
                }
                _ => (),
            },
            Event::Eof => return Ok(()),
            _ => (),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_positions() {
        assert_eq!(cell_position(b"A1"), Some((1, 1)));
        assert_eq!(cell_position(b"$XFD$1048576"), Some((1_048_576, 16_384)));
        assert_eq!(cell_position(b"xfe1"), Some((1, 16_385)));
        assert_eq!(cell_position(b"A"), None);
        assert_eq!(cell_position(b"12"), None);
        assert_eq!(
            cell_position(b"A99999999999999999999999"),
            Some((u64::MAX, 1))
        );
    }

    #[test]
    fn a_zip_listing_too_many_entries_is_refused_before_it_is_listed() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.xlsx");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("xl/workbook.xml", stored).unwrap();
        zip.write_all(b"<workbook/>").unwrap();
        for i in 0..MAX_ZIP_ENTRIES {
            zip.start_file(format!("{i}"), stored).unwrap();
        }
        zip.finish().unwrap();
        assert_eq!(declared_entries(&path).unwrap(), Some(MAX_ZIP_ENTRIES + 1));
        assert_eq!(
            super::super::detect(&path).unwrap(),
            Some(WorkbookFormat::Xlsx)
        );
        let err = check(&path, WorkbookFormat::Xlsx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the workbook is refused: its zip archive lists 10001 entries, more than the limit \
             of 10000"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(812), "812 bytes");
        assert_eq!(size_text(1946), "1.9 KB");
        assert_eq!(size_text(256 * MB), "256.0 MB");
    }

    fn ods_cells(content: &str) -> Result<(), WorkbookError> {
        let bytes = content.as_bytes();
        let mut part = Counted::new(bytes, "content.xml".into(), bytes.len() as u64, u64::MAX);
        scan_ods_content(&mut part)
    }

    #[test]
    fn empty_repeats_to_the_end_of_an_ods_sheet_cost_nothing() {
        let xml = r#"<office:document-content><table:table table:name="S">
            <table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16383"/></table:table-row>
            <table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
            </table:table></office:document-content>"#;
        ods_cells(xml).unwrap();
    }

    #[test]
    fn repeated_non_empty_ods_cells_are_counted() {
        let xml = r#"<table:table table:name="S">
            <table:table-row table:number-rows-repeated="9000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="10000"/></table:table-row>
            </table:table>"#;
        let err = ods_cells(xml).unwrap_err();
        assert!(err.to_string().contains("1000000 cells"), "{err}");
        let xml = r#"<table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="99999999999"/></text:p></table:table-cell></table:table-row></table:table>"#;
        let err = ods_cells(xml).unwrap_err();
        assert!(err.to_string().contains("of cell text"), "{err}");
    }

    #[test]
    fn empty_rows_between_non_empty_ones_are_counted() {
        // calamine fills the gap between two non-empty rows.
        let xml = r#"<table:table table:name="S">
            <table:table-row><table:table-cell office:value="1" table:number-columns-repeated="100"/></table:table-row>
            <table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row>
            <table:table-row><table:table-cell office:value="1"/></table:table-row>
            </table:table>"#;
        assert!(matches!(ods_cells(xml), Err(WorkbookError::OverLimit(_))));
    }
}
