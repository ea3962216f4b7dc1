//! Opening an uploaded CSV file: encoding and delimiter detection, then a streaming
//! `csv::Reader` that always yields UTF-8.
//!
//! Uploads come from Excel, Salesforce, HubSpot, Google Sheets and European locales, so
//! the encoding is guessed from the bytes (BOM, UTF-8 validity, else Windows-1252) and
//! the delimiter from the header line. Files can be large: everything here streams in
//! fixed-size buffers and never holds the whole file in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

/// Size of the buffers the sniffing pass reads the file in.
const CHUNK: usize = 64 * 1024;

/// Delimiters that `sniff` considers, in order of preference for a tie (comma first).
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How an uploaded file is encoded and delimited, as found by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvFormat {
    /// The field delimiter: `,`, `;`, tab or `|`.
    pub delimiter: u8,
    /// The text encoding: UTF-8, UTF-16LE/BE (only with a BOM) or Windows-1252.
    pub encoding: &'static Encoding,
    /// Whether the file starts with a byte order mark (stripped by [`open`]).
    pub had_bom: bool,
}

impl CsvFormat {
    /// True for semicolon-delimited files: those come from locales that write
    /// `1.200,50` for amounts and put the day first in dates.
    pub(crate) fn decimal_comma(&self) -> bool {
        self.delimiter == b';'
    }
}

/// Why an upload cannot be read as a CSV file. Messages are meant for a sales admin.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading the file failed.
    #[error("the file could not be read: {0}")]
    Io(#[from] io::Error),
    /// Nothing but whitespace (or a BOM) in the file.
    #[error("the file is empty")]
    Empty,
    /// A UTF-32 byte order mark.
    #[error("UTF-32 is not supported; save the file as UTF-8 CSV")]
    Utf32,
    /// A UTF-16 byte order mark, but the text decodes to NUL characters.
    #[error(
        "the file starts with a UTF-16 marker but is not UTF-16 text (it contains NUL \
         characters; UTF-32 is not supported); save the file as UTF-8 CSV"
    )]
    BadUtf16,
    /// A NUL byte in a file that is not UTF-16.
    #[error(
        "the file contains a NUL byte (a zero byte, at byte {offset}), so it looks like a \
         binary file rather than a text CSV; save the file as UTF-8 CSV"
    )]
    Binary {
        /// 0-based position of the first NUL byte.
        offset: u64,
    },
    /// A zip or OLE2 (Office) archive that is not a workbook the import reads.
    #[error(
        "the file is an archive (zip or Office) but not a workbook this service reads \
         (.xlsx, .xlsm, .xls or .ods), nor a CSV file"
    )]
    Workbook,
    /// A header line wider than [`super::limits::MAX_COLUMNS`].
    #[error(
        "the header line has {0} columns; a file may have at most {max} (Excel's limit)",
        max = super::limits::MAX_COLUMNS
    )]
    TooManyColumns(usize),
}

/// Detects the encoding and delimiter of the file at `path` in one streaming pass.
///
/// Encoding: a UTF-8 or UTF-16 BOM decides; otherwise UTF-8 when the whole file is valid
/// UTF-8, else Windows-1252 (Excel's "Save as CSV" default). A UTF-8 BOM wins even over
/// invalid bytes; such rows then fail to read as UTF-8 and the caller rejects them.
/// Delimiter: the most frequent of `,` `;` tab `|` outside double quotes in the first
/// non-blank line; ties and none give a comma.
pub fn sniff(path: impl AsRef<Path>) -> Result<CsvFormat, SourceError> {
    let path = path.as_ref();
    let mut file = File::open(path)?;
    let mut buf = Vec::with_capacity(CHUNK);
    read_chunk(&mut file, &mut buf)?;
    if buf.starts_with(b"\xFF\xFE\0\0") || buf.starts_with(b"\0\0\xFE\xFF") {
        return Err(SourceError::Utf32);
    }
    // Zip (.xlsx) and OLE2 (.xls) signatures.
    if buf.starts_with(b"PK\x03\x04") || buf.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return Err(SourceError::Workbook);
    }
    match Encoding::for_bom(&buf) {
        Some((encoding, _)) if encoding != UTF_8 => sniff_utf16(path, encoding),
        bom => sniff_ascii_compatible(file, buf, bom.map_or(0, |(_, len)| len)),
    }
}

/// Opens the file for reading records, decoding it to UTF-8 as `format` says.
///
/// The reader has no header handling (read the header record yourself) and is flexible
/// about field counts (check them with the header). LF, CRLF and lone CR line endings
/// all work; every line break, also inside quoted fields, reaches the caller as LF.
/// Read records with [`read_record`] so that [`line_of`] gives the right line.
pub fn open(
    path: impl AsRef<Path>,
    format: &CsvFormat,
) -> Result<csv::Reader<Box<dyn Read + Send>>, SourceError> {
    open_counted(path, format).map(|(reader, _)| reader)
}

/// How many bytes of the upload a reader has taken from the file so far; shared with
/// the thread that reads. Counts the file's own bytes (before decoding), so it compares
/// with the file's size whatever the encoding; it runs ahead of the last record by at
/// most the reader's buffers.
#[derive(Debug, Clone, Default)]
pub(crate) struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    /// The bytes read so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// [`open`], also returning a handle that tells how far into the file the reader is.
pub(crate) fn open_counted(
    path: impl AsRef<Path>,
    format: &CsvFormat,
) -> Result<(csv::Reader<Box<dyn Read + Send>>, BytesRead), SourceError> {
    let bytes_read = BytesRead::default();
    let file = Counting {
        inner: File::open(path.as_ref())?,
        read: bytes_read.clone(),
    };
    let text: Box<dyn Read + Send> = if format.encoding == UTF_8 && !format.had_bom {
        Box::new(file)
    } else {
        // Passthru keeps UTF-8 bytes as they are: a stray invalid byte after a UTF-8 BOM
        // then rejects its row instead of silently becoming U+FFFD in the database.
        // Passthru only applies to an encoding found from the BOM, not to one given.
        let given = (format.encoding != UTF_8).then_some(format.encoding);
        Box::new(
            DecodeReaderBytesBuilder::new()
                .encoding(given)
                .utf8_passthru(true)
                .strip_bom(true)
                .build(file),
        )
    };
    let text = LineBreaks {
        inner: text,
        after_cr: false,
        missing_final_lf: false,
    };
    let reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(Box::new(text) as Box<dyn Read + Send>);
    Ok((reader, bytes_read))
}

/// A reader that adds what it reads to a [`BytesRead`].
struct Counting<R> {
    inner: R,
    read: BytesRead,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads the next record like `csv::Reader::read_record`, and sets its position line to
/// the 1-based physical line of the upload on which the record starts.
///
/// csv stamps a record with the position where the previous one ended, which is wrong
/// after blank lines; the start is recomputed from the end of the record instead. That
/// relies on [`open`] ending every record with exactly one LF.
pub fn read_record(
    reader: &mut csv::Reader<Box<dyn Read + Send>>,
    record: &mut StringRecord,
) -> Result<bool, csv::Error> {
    if !reader.read_record(record)? {
        return Ok(false);
    }
    let embedded = memchr::memchr_iter(b'\n', record.as_byte_record().as_slice()).count();
    let end = reader.position().line();
    let start = end.saturating_sub(1 + embedded as u64).max(1);
    let mut position = record
        .position()
        .cloned()
        .unwrap_or_else(csv::Position::new);
    position.set_line(start);
    record.set_position(Some(position));
    Ok(true)
}

/// The 1-based physical line of the upload on which `record` starts, if it was read
/// with [`read_record`] (0 when the record has no position).
#[cfg(test)]
pub(crate) fn line_of(record: &StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// True when every field of `record` is empty or whitespace (a blank line, or `,,,`).
pub fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|field| field.trim().is_empty())
}

/// Reads up to [`CHUNK`] bytes, fewer only at the end of the file.
fn read_chunk(reader: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    reader.by_ref().take(CHUNK as u64).read_to_end(buf)
}

/// The sniffing pass for files without a UTF-16 BOM: in UTF-8 and Windows-1252 every
/// byte below 0x80 is ASCII, so delimiters and line breaks can be found in raw bytes.
fn sniff_ascii_compatible(
    mut file: File,
    mut buf: Vec<u8>,
    bom_len: usize,
) -> Result<CsvFormat, SourceError> {
    let mut scan = TextScan::default();
    let mut utf8 = Utf8Check::new();
    let mut offset = 0u64;
    let mut start = bom_len;
    while !buf.is_empty() {
        let chunk = &buf[start..];
        if let Some(pos) = memchr::memchr(0, chunk) {
            return Err(SourceError::Binary {
                offset: offset + (start + pos) as u64,
            });
        }
        scan.feed(chunk);
        utf8.feed(chunk, false);
        offset += buf.len() as u64;
        start = 0;
        read_chunk(&mut file, &mut buf)?;
    }
    utf8.feed(&[], true);
    let encoding = if utf8.valid || bom_len > 0 {
        UTF_8
    } else {
        WINDOWS_1252
    };
    scan.finish(encoding, bom_len > 0)
}

/// The sniffing pass for files with a UTF-16 BOM: decodes them to UTF-8 first.
fn sniff_utf16(path: &Path, encoding: &'static Encoding) -> Result<CsvFormat, SourceError> {
    let mut text = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .strip_bom(true)
        .build(File::open(path)?);
    let mut scan = TextScan::default();
    let mut buf = Vec::with_capacity(CHUNK);
    while read_chunk(&mut text, &mut buf)? > 0 {
        // UTF-32 behind a UTF-16 BOM (or binary data) decodes to U+0000 characters.
        if buf.contains(&0) {
            return Err(SourceError::BadUtf16);
        }
        scan.feed(&buf);
    }
    scan.finish(encoding, true)
}

/// Streaming UTF-8 validation with the standard library's validator (fast on ASCII);
/// a sequence split across chunks is carried over to the next one.
struct Utf8Check {
    /// The start of a sequence that the chunk ended in the middle of (at most 3 bytes).
    carry: Vec<u8>,
    valid: bool,
}

impl Utf8Check {
    fn new() -> Self {
        Utf8Check {
            carry: Vec::with_capacity(4),
            valid: true,
        }
    }

    fn feed(&mut self, mut src: &[u8], last: bool) {
        // Complete a carried sequence byte by byte: it is valid, invalid or still short.
        while self.valid && !self.carry.is_empty() && !src.is_empty() {
            self.carry.push(src[0]);
            src = &src[1..];
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(e) if e.error_len().is_some() => self.valid = false,
                Err(_) => {}
            }
        }
        if self.valid
            && self.carry.is_empty()
            && let Err(e) = std::str::from_utf8(src)
        {
            match e.error_len() {
                Some(_) => self.valid = false,
                None => self.carry.extend_from_slice(&src[e.valid_up_to()..]),
            }
        }
        if last && !self.carry.is_empty() {
            self.valid = false; // The file ends inside a sequence.
        }
    }
}

/// What the sniffing pass learns from the text (as ASCII-compatible bytes).
#[derive(Default)]
struct TextScan {
    /// Anything other than whitespace seen.
    content: bool,
    header: HeaderState,
    in_quotes: bool,
    counts: [usize; DELIMITERS.len()],
}

#[derive(Default, PartialEq)]
enum HeaderState {
    /// Still in blank lines before the header.
    #[default]
    Before,
    Inside,
    Done,
}

impl TextScan {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.content && self.header == HeaderState::Done {
                return; // Nothing more to learn; the rest of the file is only checked for NULs.
            }
            self.content |= !b.is_ascii_whitespace();
            if self.header == HeaderState::Before && !matches!(b, b' ' | b'\r' | b'\n') {
                self.header = HeaderState::Inside;
            }
            if self.header == HeaderState::Inside {
                self.count_header_byte(b);
            }
        }
    }

    fn count_header_byte(&mut self, b: u8) {
        if b == b'"' {
            // A doubled quote toggles twice, so it needs no special case.
            self.in_quotes = !self.in_quotes;
        } else if self.in_quotes {
        } else if b == b'\n' || b == b'\r' {
            self.header = HeaderState::Done;
        } else if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
            self.counts[i] += 1;
        }
    }

    fn finish(self, encoding: &'static Encoding, had_bom: bool) -> Result<CsvFormat, SourceError> {
        if !self.content {
            return Err(SourceError::Empty);
        }
        let max = self.counts.iter().copied().max().unwrap_or(0);
        let winners = self.counts.iter().filter(|&&c| c == max).count();
        let delimiter = match self.counts.iter().position(|&c| c == max) {
            Some(i) if max > 0 && winners == 1 => DELIMITERS[i],
            _ => b',',
        };
        // Refused here, before a reader holds the header line as a record: two million
        // columns cost the reader hundreds of megabytes in field ends alone.
        let columns = self.counts[DELIMITERS.iter().position(|&d| d == delimiter).unwrap_or(0)] + 1;
        if columns > super::limits::MAX_COLUMNS {
            return Err(SourceError::TooManyColumns(columns));
        }
        Ok(CsvFormat {
            delimiter,
            encoding,
            had_bom,
        })
    }
}

/// Turns CR and CRLF line breaks into LF and ends the text with an LF. csv counts lines
/// by LF only and leaves the LF of a CRLF to the next record, so this is what lets
/// [`read_record`] compute line numbers for every file.
struct LineBreaks<R> {
    inner: R,
    after_cr: bool,
    missing_final_lf: bool,
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.inner.read(out)?;
            if n == 0 {
                if std::mem::take(&mut self.missing_final_lf) {
                    out[0] = b'\n';
                    return Ok(1);
                }
                return Ok(0);
            }
            // Most files have no CR at all: find them with memchr and move the bytes
            // between them, instead of looking at every byte.
            let mut written = 0;
            let mut i = 0;
            if std::mem::take(&mut self.after_cr) && out[0] == b'\n' {
                i = 1; // The LF of a CRLF split across two reads.
            }
            while i < n {
                let run = memchr::memchr(b'\r', &out[i..n]).unwrap_or(n - i);
                if written != i {
                    out.copy_within(i..i + run, written);
                }
                written += run;
                i += run;
                if i == n {
                    break;
                }
                out[written] = b'\n'; // A CR, alone or before an LF, ends the line.
                written += 1;
                i += 1;
                match out[..n].get(i) {
                    Some(b'\n') => i += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            // Only a dropped LF was read: 0 would mean end of file, so read on.
            if written > 0 {
                self.missing_final_lf = out[written - 1] != b'\n';
                return Ok(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

    /// A temp file removed on drop.
    struct TempCsv(PathBuf);

    impl TempCsv {
        fn new(bytes: &[u8]) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("csv_source_test_{}_{n}.csv", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            TempCsv(path)
        }
    }

    impl Drop for TempCsv {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Sniffs and reads every record as (line, fields).
    fn read_path(path: &Path) -> (CsvFormat, Vec<(u64, Vec<String>)>) {
        let format = sniff(path).unwrap();
        let mut reader = open(path, &format).unwrap();
        let mut record = StringRecord::new();
        let mut records = Vec::new();
        while read_record(&mut reader, &mut record).unwrap() {
            records.push((line_of(&record), record.iter().map(str::to_owned).collect()));
        }
        (format, records)
    }

    fn read_bytes(bytes: &[u8]) -> (CsvFormat, Vec<(u64, Vec<String>)>) {
        let file = TempCsv::new(bytes);
        read_path(&file.0)
    }

    fn fields(records: &[(u64, Vec<String>)]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|(_, f)| f.iter().map(String::as_str).collect())
            .collect()
    }

    fn lines(records: &[(u64, Vec<String>)]) -> Vec<u64> {
        records.iter().map(|(l, _)| *l).collect()
    }

    fn sniff_bytes(bytes: &[u8]) -> Result<CsvFormat, SourceError> {
        let file = TempCsv::new(bytes);
        sniff(&file.0)
    }

    fn corpus(rel: &str) -> PathBuf {
        Path::new(CORPUS).join(rel)
    }

    #[test]
    fn plain_utf8_without_bom() {
        let (format, records) = read_bytes(b"Name,City\nJ\xC3\xBCrgen,M\xC3\xBCnchen\n");
        assert_eq!(format.encoding, UTF_8);
        assert!(!format.had_bom);
        assert_eq!(format.delimiter, b',');
        assert_eq!(
            fields(&records),
            [vec!["Name", "City"], vec!["Jürgen", "München"]]
        );
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let (format, records) = read_bytes(b"\xEF\xBB\xBFName,City\nCaf\xC3\xA9,Z\xC3\xBCrich\n");
        assert_eq!(format.encoding, UTF_8);
        assert!(format.had_bom);
        assert_eq!(
            fields(&records),
            [vec!["Name", "City"], vec!["Café", "Zürich"]]
        );
    }

    #[test]
    fn windows_1252_is_decoded() {
        let (format, records) = read_bytes(b"Name,Shop\nM\xFCller,Caf\xE9\n");
        assert_eq!(format.encoding, WINDOWS_1252);
        assert_eq!(fields(&records)[1], ["Müller", "Café"]);
    }

    #[test]
    fn utf8_sequence_split_across_chunks_stays_utf8() {
        // "ü" (C3 BC) straddles the first 64 KiB boundary.
        let mut bytes = b"Name\n".to_vec();
        bytes.resize(CHUNK - 1, b'a');
        bytes.extend_from_slice("ü\n".as_bytes());
        assert_eq!(sniff_bytes(&bytes).unwrap().encoding, UTF_8);
    }

    #[test]
    fn truncated_utf8_at_end_is_windows_1252() {
        assert_eq!(sniff_bytes(b"Name\nab\xC3").unwrap().encoding, WINDOWS_1252);
    }

    #[test]
    fn invalid_byte_late_in_a_large_file_is_windows_1252() {
        let mut bytes = b"Name,Amount\n".to_vec();
        for i in 0..20_000 {
            bytes.extend_from_slice(format!("row{i},{i}\n").as_bytes());
        }
        bytes.extend_from_slice(b"Caf\xE9,1\n");
        let (format, records) = read_bytes(&bytes);
        assert_eq!(format.encoding, WINDOWS_1252);
        assert_eq!(records.last().unwrap().1, ["Café", "1"]);
        assert_eq!(records.last().unwrap().0, 20_002);
    }

    #[test]
    fn utf16_le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "Name;Stadt\r\nMüller;Köln\r\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let (format, records) = read_bytes(&bytes);
        assert_eq!(format.encoding, encoding_rs::UTF_16LE);
        assert!(format.had_bom);
        assert_eq!(format.delimiter, b';');
        assert_eq!(
            fields(&records),
            [vec!["Name", "Stadt"], vec!["Müller", "Köln"]]
        );
        assert_eq!(lines(&records), [1, 2]);
    }

    #[test]
    fn utf16_be_with_bom() {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in "a,b\nx,y\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        let (format, records) = read_bytes(&bytes);
        assert_eq!(format.encoding, encoding_rs::UTF_16BE);
        assert_eq!(fields(&records), [vec!["a", "b"], vec!["x", "y"]]);
    }

    #[test]
    fn utf32_is_refused() {
        let le = sniff_bytes(b"\xFF\xFE\0\0a\0\0\0,\0\0\0b\0\0\0").unwrap_err();
        assert!(matches!(le, SourceError::Utf32));
        assert_eq!(
            le.to_string(),
            "UTF-32 is not supported; save the file as UTF-8 CSV"
        );
        let be = sniff_bytes(b"\0\0\xFE\xFF\0\0\0a").unwrap_err();
        assert!(matches!(be, SourceError::Utf32));
    }

    #[test]
    fn nul_byte_is_refused_as_binary() {
        let err = sniff_bytes(b"a,b\n1,\x002\n").unwrap_err();
        assert!(matches!(err, SourceError::Binary { offset: 6 }), "{err:?}");
        assert!(err.to_string().contains("NUL"));
        assert!(err.to_string().contains("binary"));
    }

    #[test]
    fn a_header_wider_than_excel_is_refused_before_it_is_read() {
        let wide = format!("{}\nx\n", vec!["c"; 16_385].join(";"));
        let err = sniff_bytes(wide.as_bytes()).unwrap_err();
        assert!(matches!(err, SourceError::TooManyColumns(16_385)), "{err}");
        assert!(err.to_string().contains("at most 16384"), "{err}");
        let fits = format!("{}\nx\n", vec!["c"; 16_384].join(","));
        assert!(sniff_bytes(fits.as_bytes()).is_ok());
        // Delimiters inside quotes are not columns.
        let quoted = format!("\"{}\",b\nx\n", vec!["c"; 20_000].join(","));
        assert!(sniff_bytes(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn excel_workbook_is_refused() {
        let err = sniff_bytes(b"PK\x03\x04\x14\0\x06\0rest").unwrap_err();
        assert!(matches!(err, SourceError::Workbook));
    }

    #[test]
    fn empty_files_are_refused() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"  \r\n\n\t \n", b"\xFF\xFE\n\0"] {
            let err = sniff_bytes(bytes).unwrap_err();
            assert!(matches!(err, SourceError::Empty), "{bytes:?}: {err:?}");
            assert_eq!(err.to_string(), "the file is empty");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = sniff("/nonexistent/upload.csv").unwrap_err();
        assert!(matches!(err, SourceError::Io(_)));
        assert!(err.to_string().starts_with("the file could not be read"));
    }

    #[test]
    fn line_endings_lf_crlf_and_lone_cr() {
        for bytes in [
            &b"a,b\n1,2\n3,4\n"[..],
            b"a,b\r\n1,2\r\n3,4\r\n",
            b"a,b\r1,2\r3,4\r",
            b"a,b\r1,2\r3,4",
        ] {
            let (_, records) = read_bytes(bytes);
            assert_eq!(
                fields(&records),
                [["a", "b"], ["1", "2"], ["3", "4"]],
                "{bytes:?}"
            );
            assert_eq!(lines(&records), [1, 2, 3], "{bytes:?}");
        }
    }

    #[test]
    fn mixed_line_endings_count_every_line() {
        let (_, records) = read_bytes(b"a,b\r\n1,2\r3,4\n5,6\r\n");
        assert_eq!(lines(&records), [1, 2, 3, 4]);
        assert_eq!(fields(&records)[3], ["5", "6"]);
    }

    #[test]
    fn line_breaks_inside_quotes_become_lf() {
        let (_, records) = read_bytes(b"a,b\r\n\"x\r\ny\rz\",2\r\n3,4");
        assert_eq!(records[1].1[0], "x\ny\nz");
        assert_eq!(lines(&records), [1, 2, 5]);
    }

    #[test]
    fn records_without_final_newline_and_blank_lines_at_the_end() {
        let (_, records) = read_bytes(b"a,b\n\n1,2");
        assert_eq!(lines(&records), [1, 3]);
        let (_, records) = read_bytes(b"a,b\r\n1,2\r\n\r\n\r\n");
        assert_eq!(lines(&records), [1, 2]);
    }

    #[test]
    fn whitespace_only_lines_are_blank_records() {
        let (_, records) = read_bytes(b"a,b\n  \n,\n1,2\n");
        assert_eq!(lines(&records), [1, 2, 3, 4]);
        let blank: Vec<bool> = records
            .iter()
            .map(|(_, f)| is_blank(&StringRecord::from(f.clone())))
            .collect();
        assert_eq!(blank, [false, true, true, false]);
    }

    #[test]
    fn quoted_fields_with_delimiters_quotes_and_newlines() {
        let (_, records) = read_bytes(
            b"name,note\n\"Acme, Inc.\",\"say \"\"hi\"\"\"\n\"multi\nline\",\"x,\ny\"\n",
        );
        assert_eq!(
            fields(&records),
            [
                vec!["name", "note"],
                vec!["Acme, Inc.", "say \"hi\""],
                vec!["multi\nline", "x,\ny"]
            ]
        );
    }

    #[test]
    fn line_numbers_after_multi_line_fields_and_blank_lines() {
        let (_, records) = read_bytes(b"id,note\n1,\"two\nlines\"\n2,plain\n\n3,\"a\n\nb\"\n4,x\n");
        let ids: Vec<&str> = records.iter().map(|(_, f)| f[0].as_str()).collect();
        assert_eq!(ids, ["id", "1", "2", "3", "4"]);
        assert_eq!(lines(&records), [1, 2, 4, 6, 9]);
    }

    #[test]
    fn line_numbers_skip_leading_blank_lines() {
        let (format, records) = read_bytes(b"\n\n\na;b\n1;2\n");
        assert_eq!(format.delimiter, b';');
        assert_eq!(lines(&records), [4, 5]);
    }

    #[test]
    fn delimiter_detection() {
        let cases: [(&[u8], u8); 10] = [
            (b"a,b,c\n1,2,3\n", b','),
            (b"a;b;c\n1;2;3\n", b';'),
            (b"a\tb\tc\n1\t2\t3\n", b'\t'),
            (b"a|b|c\n1|2|3\n", b'|'),
            (b"single\n1\n", b','),
            (b"a;b,c\n", b','),
            (b"\"x;y;z\",b,c\n", b','),
            (b"\"Amount, EUR\";\"Name\";Date\n", b';'),
            (b"\xEF\xBB\xBFa;b\n", b';'),
            (b"a,b;c;d\n1,2,3,4,5,6\n", b';'),
        ];
        for (bytes, expected) in cases {
            let format = sniff_bytes(bytes).unwrap();
            assert_eq!(
                format.delimiter,
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn delimiter_is_counted_over_a_multi_line_quoted_header() {
        let format = sniff_bytes(b"\"first\nsecond\";b;c\n1;2;3\n").unwrap();
        assert_eq!(format.delimiter, b';');
    }

    #[test]
    fn decimal_comma_follows_the_semicolon() {
        assert!(sniff_bytes(b"a;b\n").unwrap().decimal_comma());
        assert!(!sniff_bytes(b"a,b\n").unwrap().decimal_comma());
        assert!(!sniff_bytes(b"a\tb\n").unwrap().decimal_comma());
    }

    #[test]
    fn blank_records() {
        assert!(is_blank(&StringRecord::from(vec!["", " ", "\t"])));
        assert!(is_blank(&StringRecord::from(vec![""])));
        assert!(!is_blank(&StringRecord::from(vec!["", "x"])));
    }

    #[test]
    fn utf8_check_carries_sequences_split_across_chunks() {
        let check = |text: &[u8], split: usize| {
            let mut utf8 = Utf8Check::new();
            utf8.feed(&text[..split], false);
            utf8.feed(&text[split..], false);
            utf8.feed(&[], true);
            utf8.valid
        };
        let good = "a é € 😀 z".as_bytes();
        for split in 0..=good.len() {
            assert!(check(good, split), "split at {split}");
        }
        let bad = b"ab\xC3(cd"; // A lead byte followed by ASCII.
        for split in 0..=bad.len() {
            assert!(!check(bad, split), "split at {split}");
        }
        let truncated = &"x€".as_bytes()[..3]; // The file ends inside a sequence.
        for split in 0..=truncated.len() {
            assert!(!check(truncated, split), "split at {split}");
        }
    }

    #[test]
    fn line_breaks_handle_crlf_split_across_reads() {
        // Reads of a few bytes: the LF of a CRLF can arrive alone (it must not end the
        // stream) or at the start of the next read.
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let normalise = |input: &[u8], piece: usize| {
            let mut text = String::new();
            LineBreaks {
                inner: Pieces(input, piece),
                after_cr: false,
                missing_final_lf: false,
            }
            .read_to_string(&mut text)
            .unwrap();
            text
        };
        for piece in [1, 2, 3, 4, 7, 64] {
            assert_eq!(normalise(b"a\r\nb\rc\r\n\r\nd", piece), "a\nb\nc\n\nd\n");
            assert_eq!(
                normalise(b"\r\r\nx\n\ny\r", piece),
                "\n\nx\n\ny\n",
                "{piece}"
            );
            assert_eq!(normalise(b"no breaks", piece), "no breaks\n");
            assert_eq!(normalise(b"", piece), "");
        }
    }

    // Real files written by others (see tests/corpus/SOURCES.md).

    #[test]
    fn corpus_csv_spectrum_matches_expected_values() {
        let (_, r) = read_path(&corpus("csv-spectrum/csvs/comma_in_quotes.csv"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].1[3], "Anytown, WW");
        assert_eq!(r[1].1[4], "08123");

        let (_, r) = read_path(&corpus("csv-spectrum/csvs/escaped_quotes.csv"));
        assert_eq!(r[1].1[1], "ha \"ha\" ha");

        let (_, r) = read_path(&corpus("csv-spectrum/csvs/newlines_crlf.csv"));
        assert_eq!(fields(&r)[2], ["Once upon \na time", "5", "6"]);
        assert_eq!(lines(&r), [1, 2, 3, 5]);

        let (_, r) = read_path(&corpus("csv-spectrum/csvs/quotes_and_newlines.csv"));
        assert_eq!(r[1].1[1], "ha \n\"ha\" \nha");

        let (format, r) = read_path(&corpus("csv-spectrum/csvs/utf8.csv"));
        assert_eq!(format.encoding, UTF_8);
        assert_eq!(r.last().unwrap().1[2], "ʤ");

        let (_, r) = read_path(&corpus("csv-spectrum/csvs/json.csv"));
        assert_eq!(
            r[1].1[1],
            r#"{"type": "Point", "coordinates": [102.0, 0.5]}"#
        );
    }

    #[test]
    fn corpus_csv_spectrum_empty_fields_lf_and_crlf() {
        for file in ["empty.csv", "empty_crlf.csv"] {
            let (_, r) = read_path(&corpus(&format!("csv-spectrum/csvs/{file}")));
            assert_eq!(
                fields(&r),
                [["a", "b", "c"], ["1", "", ""], ["2", "3", "4"]],
                "{file}"
            );
        }
    }

    #[test]
    fn corpus_messytables_encodings_and_line_endings() {
        let (format, r) = read_path(&corpus("messytables-horror/utf8bom.csv"));
        assert!(format.had_bom);
        assert_eq!(fields(&r), [["kitten", "win"]]);

        let (format, r) = read_path(&corpus("messytables-horror/utf-16le_encoded.csv"));
        assert_eq!(format.encoding, encoding_rs::UTF_16LE);
        assert!(r.len() > 100);
        assert!(!r[0].1[0].starts_with('\u{feff}'));

        let (format, r) = read_path(&corpus("messytables-horror/spanish_chars.csv"));
        assert_eq!(format.encoding, WINDOWS_1252);
        assert!(
            r.iter()
                .flat_map(|(_, f)| f)
                .any(|f| f.contains("Descripción"))
        );

        let (_, r) = read_path(&corpus("messytables-horror/mixedGLB.csv"));
        let l = lines(&r);
        assert!(
            l.windows(2).all(|w| w[0] < w[1]),
            "line numbers must grow: {l:?}"
        );

        let (format, _) = read_path(&corpus("messytables-horror/simple.ssv"));
        assert_eq!(format.delimiter, b';');
        let (format, _) = read_path(&corpus("messytables-horror/simple.psv"));
        assert_eq!(format.delimiter, b'|');
    }

    #[test]
    fn corpus_salesforce_dataloader() {
        let (format, r) = read_path(&corpus("salesforce-dataloader/opportunityData.csv"));
        assert_eq!((format.delimiter, format.encoding), (b',', UTF_8));
        assert_eq!(r.len(), 39); // header + 38 opportunities
        assert_eq!(r[0].1.len(), 31);
        assert!(r.iter().all(|(_, f)| f.len() == 31));

        let (format, r) = read_path(&corpus("salesforce-dataloader/csvtext_BOM_UTF8.csv"));
        assert!(format.had_bom);
        assert!(!r[0].1[0].starts_with('\u{feff}'));

        for file in ["csvtext_BOM_UTF16LE.csv", "csvtext_BOM_UTF16BE.csv"] {
            let (format, r) = read_path(&corpus(&format!("salesforce-dataloader/{file}")));
            assert!(
                format.encoding == encoding_rs::UTF_16LE
                    || format.encoding == encoding_rs::UTF_16BE
            );
            let (_, utf8) = read_path(&corpus("salesforce-dataloader/csvtext_BOM_UTF8.csv"));
            assert_eq!(fields(&r), fields(&utf8), "{file}");
        }

        // FE FF followed by UTF-32 code units: a clear error, never garbage.
        for file in ["csvtext_BOM_UTF32LE.csv", "csvtext_BOM_UTF32BE.csv"] {
            let err = sniff(corpus(&format!("salesforce-dataloader/{file}"))).unwrap_err();
            assert!(matches!(err, SourceError::BadUtf16), "{file}: {err:?}");
        }

        let (_, r) = read_path(&corpus(
            "salesforce-dataloader/hardDeleteEmptyCsvFileTemplate.csv",
        ));
        assert_eq!(fields(&r), [["ID"]]);
    }

    #[test]
    fn corpus_salesforce_data_cloud_workshop() {
        for (file, rows) in [
            ("Opportunity.csv", 50),
            ("Contact.csv", 102),
            ("Lead.csv", 60),
        ] {
            let (format, r) = read_path(&corpus(&format!("salesforce-data-cloud-workshop/{file}")));
            assert_eq!(
                (format.delimiter, format.encoding, format.had_bom),
                (b',', UTF_8, true)
            );
            assert!(!r[0].1[0].starts_with('\u{feff}'), "{file}");
            let width = r[0].1.len();
            assert_eq!(r.len() - 1, rows, "{file}");
            assert!(r.iter().all(|(_, f)| f.len() == width), "{file}");
        }
    }

    #[test]
    fn corpus_frictionless() {
        let (format, r) = read_path(&corpus("frictionless-py/latin1.csv"));
        assert_eq!(format.encoding, WINDOWS_1252);
        assert!(r.iter().flat_map(|(_, f)| f).any(|f| f.contains('©')));

        let (format, r) = read_path(&corpus("frictionless-py/table-with-accents.csv"));
        assert_eq!((format.delimiter, format.encoding), (b';', WINDOWS_1252));
        assert!(r[0].1.iter().any(|f| f.contains("Année")));

        let (format, r) = read_path(&corpus("frictionless-py/bom.csv"));
        assert!(format.had_bom);
        assert_eq!(r[0].1[0], "id");

        let (format, _) = read_path(&corpus("frictionless-py/accent.csv"));
        assert_eq!((format.delimiter, format.encoding), (b';', UTF_8));

        let (format, r) = read_path(&corpus("frictionless-py/issue-1138.csv"));
        assert_eq!(format.delimiter, b';');
        assert_eq!(r[0].1.last().map(String::as_str), Some(""));

        let err = sniff(corpus("frictionless-py/empty.csv")).unwrap_err();
        assert!(matches!(err, SourceError::Empty));

        let (_, r) = read_path(&corpus("frictionless-py/blank-rows.csv"));
        assert!(is_blank(&StringRecord::from(r.last().unwrap().1.clone())));
    }

    #[test]
    fn corpus_other_suites() {
        let err = sniff(corpus("csvkit/null_byte.csv")).unwrap_err();
        assert!(matches!(err, SourceError::Binary { .. }));

        let (_, r) = read_path(&corpus("csvlint-rb/cr-line-endings.csv"));
        assert_eq!(lines(&r), (1..=r.len() as u64).collect::<Vec<_>>());

        let (format, r) = read_path(&corpus("csvlint-rb/invalid-byte-sequence.csv"));
        assert_eq!(format.encoding, WINDOWS_1252);
        assert!(r[0].1.iter().any(|f| f.contains("Histórico")));

        let (_, r) = read_path(&corpus("csv-parser/mac-newlines.csv"));
        assert!(r.len() >= 2);

        let (format, r) = read_path(&corpus("csv-parser/utf16-big.csv"));
        assert_eq!(format.encoding, encoding_rs::UTF_16BE);
        let (_, le) = read_path(&corpus("csv-parser/utf16.csv"));
        assert_eq!(fields(&r), fields(&le));
    }
}
