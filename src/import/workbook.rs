//! Excel and OpenDocument workbooks (`.xlsx`, `.xlsm`, `.xls` BIFF8, `.ods`) read as rows of
//! text cells, so that an uploaded workbook can be imported like a CSV file (issue 11).
//!
//! - [`detect`] recognises a workbook by its content, not by its file name.
//! - [`sheet_names`] lists the worksheets; [`SheetRows::open`] opens the one a user chose
//!   ([`SheetChoice`]) or the first visible one, and [`SheetRows::next_row`] yields its
//!   non-empty rows with their sheet row numbers.
//! - [`cell_text`] turns a cell into the text a sales admin means (numbers without float
//!   noise, dates as `YYYY-MM-DD`, trimmed text).
//!
//! Memory: an xlsx sheet is streamed with calamine's cell reader on a helper thread (the
//! reader borrows the workbook, which the thread owns), a bounded channel of rows in
//! between, so a large sheet is never loaded whole; only the shared strings table is. For
//! `.xls` and `.ods` calamine has no streaming reader: the whole sheet is loaded with
//! `worksheet_range` and then iterated.
//!
//! Bounds (issue 18): calamine allocates from numbers a file declares, and a failed
//! allocation aborts the process. Before calamine opens a workbook, [`budget`] checks a
//! zip workbook's directory and unpacks every part through a counter (the declared and
//! the actual sizes, the compression ratio, the shared strings, xlsx dimensions and cell
//! references, what an ods sheet expands to), and `xls_area` measures what an xls's sheets
//! span; a file over a bound is [`WorkbookError::OverLimit`], naming the limit. The sheet
//! list ([`sheet_names`], [`sheet_for`], which the API calls) is read without calamine.
//!
//! A bad file is a [`WorkbookError`] with a message for a sales admin, never a crash:
//! corrupt, truncated, password-protected and chart-only workbooks alike. calamine 0.36
//! itself panics on some damaged files and, on an `.xls` declaring absurd dimensions,
//! aborts on a failed allocation; so its calls run under `catch_unwind` (see
//! `contain_panics`) and an `.xls` is checked before calamine opens it (`xls_guard`).
//! A row's order is the file's: rows listed out of order in a damaged xlsx come as
//! listed.

pub(crate) mod budget;
mod cell;
mod dimension;
mod sheets;
mod xls_area;
mod xls_guard;
mod xlsx_stream;

#[cfg(test)]
pub(crate) mod tests;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{Data, Ods, Range, Reader, SheetType, SheetVisible, Xls, Xlsx};

pub(crate) use cell::{cell_ref_text, cell_text};

/// The most columns a sheet can have (Excel's limit, XFD): a cell beyond is a corrupt
/// file, and refusing it keeps a bogus column number from allocating a huge row.
const MAX_COLUMNS: u32 = 16_384;

/// The first bytes of an OLE2 compound file (BIFF8 `.xls`, and encrypted OOXML files).
const OLE2_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The first bytes of a zip archive's local file header (`.xlsx`, `.xlsm`, `.ods`).
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// The `mimetype` entry of an OpenDocument spreadsheet.
const ODS_MIMETYPE: &str = "application/vnd.oasis.opendocument.spreadsheet";

/// Workbook formats recognised by content (magic bytes), not by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkbookFormat {
    /// Office Open XML: `.xlsx` and `.xlsm`.
    Xlsx,
    /// Excel 97-2003 (BIFF8) `.xls`.
    Xls,
    /// OpenDocument spreadsheet `.ods`.
    Ods,
}

/// Looks at the file's content: zip archives holding `xl/workbook.xml` are Xlsx, zip
/// archives whose `mimetype` entry is `application/vnd.oasis.opendocument.spreadsheet`
/// are Ods, OLE2 compound files (`D0 CF 11 E0 A1 B1 1A E1`) are Xls. Anything else,
/// including zip files of other kinds and zip files too broken to list, is `Ok(None)`.
///
/// A password-protected xlsx is an OLE2 file, so it is detected as Xls; opening it then
/// reports [`WorkbookError::Encrypted`].
pub(crate) fn detect(path: &Path) -> std::io::Result<Option<WorkbookFormat>> {
    match container(path)? {
        Some(Container::Ole2) => return Ok(Some(WorkbookFormat::Xls)),
        Some(Container::Zip) => {}
        None => return Ok(None),
    }
    // A zip listing more entries than a workbook may have is not listed here (the zip
    // crate keeps memory for each): it is taken for an xlsx, which opening then refuses
    // with a message naming the limit.
    if budget::declared_entries(path)?.is_some_and(|n| n > budget::MAX_ZIP_ENTRIES) {
        return Ok(Some(WorkbookFormat::Xlsx));
    }
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(File::open(path)?)) else {
        return Ok(None);
    };
    // Zip names are compared without case, as calamine looks them up.
    if zip
        .file_names()
        .any(|name| name.eq_ignore_ascii_case("xl/workbook.xml"))
    {
        return Ok(Some(WorkbookFormat::Xlsx));
    }
    let Ok(entry) = zip.by_name("mimetype") else {
        return Ok(None);
    };
    let mut mimetype = String::new();
    // The entry is a few dozen bytes; a longer one is not an ODS mimetype anyway.
    if entry
        .take(ODS_MIMETYPE.len() as u64 + 16)
        .read_to_string(&mut mimetype)
        .is_err()
    {
        return Ok(None);
    }
    Ok((mimetype.trim() == ODS_MIMETYPE).then_some(WorkbookFormat::Ods))
}

/// True when the file starts like a workbook container (zip or OLE2), looking at its
/// first eight bytes only: for callers that must know without reading the workbook (a
/// CSV never starts so, [`crate::import::csv_source::sniff`] refuses such files).
pub(crate) fn has_workbook_magic(path: &Path) -> std::io::Result<bool> {
    Ok(container(path)?.is_some())
}

/// The kinds of file a workbook comes in, told by their first bytes.
enum Container {
    /// An OLE2 compound file (`.xls`, encrypted OOXML).
    Ole2,
    /// A zip archive (`.xlsx`, `.xlsm`, `.ods`).
    Zip,
}

/// The container the file at `path` starts like, if any, from its first eight bytes.
fn container(path: &Path) -> std::io::Result<Option<Container>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 8];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(if filled == magic.len() && magic == OLE2_MAGIC {
        Some(Container::Ole2)
    } else if filled >= ZIP_MAGIC.len() && magic[..4] == ZIP_MAGIC {
        Some(Container::Zip)
    } else {
        None
    })
}

/// The sheet a user asked for: `sheet=<name or 1-based index>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetChoice {
    /// A sheet name (matched exactly, else without regard to case, as Excel does).
    Name(String),
    /// A 1-based position among the worksheets listed by [`sheet_names`].
    Index(usize),
}

impl SheetChoice {
    /// A string of ASCII digits worth at least 1 is an [`SheetChoice::Index`]; anything
    /// else, trimmed, is a [`SheetChoice::Name`].
    ///
    /// A sheet named with digits only ("2024") is still found by that name when there
    /// are fewer worksheets than the number: see [`SheetRows::open`].
    pub fn parse(raw: &str) -> SheetChoice {
        let trimmed = raw.trim();
        if !trimmed.is_empty()
            && trimmed.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = trimmed.parse::<usize>()
            && n >= 1
        {
            return SheetChoice::Index(n);
        }
        SheetChoice::Name(trimmed.to_owned())
    }

    /// The choice as the user wrote it, for messages.
    fn wanted(&self) -> String {
        match self {
            SheetChoice::Name(name) => name.clone(),
            SheetChoice::Index(n) => n.to_string(),
        }
    }
}

/// Why a workbook cannot be read; the messages are meant for a sales admin.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkbookError {
    /// The chosen sheet is not among the workbook's worksheets.
    #[error("the workbook has no sheet \"{wanted}\"; its sheets are: {}", quoted_list(.sheets))]
    UnknownSheet {
        /// The name or number the user gave.
        wanted: String,
        /// The worksheets there are, in workbook order.
        sheets: Vec<String>,
    },
    /// The workbook is encrypted with a password (a password to open, not sheet
    /// protection, which does not stop reading).
    #[error("the workbook is password-protected; remove the password in Excel and upload it again")]
    Encrypted,
    /// The workbook has chart sheets only.
    #[error("the workbook has no worksheet (only chart sheets)")]
    NoWorksheet,
    /// The chosen sheet has no non-empty cell; reported by [`SheetRows::open`].
    #[error("the sheet \"{sheet}\" is empty")]
    EmptySheet {
        /// The sheet's name.
        sheet: String,
    },
    /// The file is not a readable workbook (calamine's explanation).
    #[error("the workbook cannot be read: {0}")]
    Corrupt(String),
    /// The file itself could not be read.
    #[error("the workbook cannot be read: {0}")]
    Io(#[from] std::io::Error),
    /// The file is over one of the bounds that keep reading it within memory (see
    /// [`budget`]); the message names the bound and what the file has or declares.
    #[error("the workbook is refused: {0}")]
    OverLimit(String),
}

impl WorkbookError {
    /// True for [`WorkbookError::UnknownSheet`]: the user can fix it by choosing another
    /// sheet, so a caller may answer it differently (for instance with a 400 listing them).
    pub(crate) fn is_unknown_sheet(&self) -> bool {
        matches!(self, WorkbookError::UnknownSheet { .. })
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An I/O error from inside calamine: an error of the operating system is
/// [`WorkbookError::Io`]; anything else (a zip entry's bad checksum, data that does not
/// decompress) is a damaged file.
fn io_error(e: std::io::Error) -> WorkbookError {
    if e.raw_os_error().is_some() {
        WorkbookError::Io(e)
    } else {
        WorkbookError::Corrupt(e.to_string())
    }
}

impl From<calamine::XlsxError> for WorkbookError {
    fn from(e: calamine::XlsxError) -> Self {
        match e {
            calamine::XlsxError::Password => WorkbookError::Encrypted,
            calamine::XlsxError::Io(e) => io_error(e),
            e => WorkbookError::Corrupt(e.to_string()),
        }
    }
}

impl From<calamine::XlsError> for WorkbookError {
    fn from(e: calamine::XlsError) -> Self {
        match e {
            calamine::XlsError::Password => WorkbookError::Encrypted,
            calamine::XlsError::Io(e) => io_error(e),
            e => WorkbookError::Corrupt(e.to_string()),
        }
    }
}

impl From<calamine::OdsError> for WorkbookError {
    fn from(e: calamine::OdsError) -> Self {
        match e {
            calamine::OdsError::Password => WorkbookError::Encrypted,
            calamine::OdsError::Io(e) => io_error(e),
            e => WorkbookError::Corrupt(e.to_string()),
        }
    }
}

/// An open workbook of any of the formats.
enum Book {
    Xlsx(Xlsx<BufReader<File>>),
    Xls(Xls<BufReader<File>>),
    Ods(Ods<BufReader<File>>),
}

impl Book {
    fn open(path: &Path, format: WorkbookFormat) -> Result<Book, WorkbookError> {
        let reader =
            || -> std::io::Result<BufReader<File>> { Ok(BufReader::new(File::open(path)?)) };
        // calamine allocates from numbers the file declares: bounded first.
        budget::check(path, format)?;
        match format {
            WorkbookFormat::Xlsx => Ok(Book::Xlsx(Xlsx::new(reader()?)?)),
            WorkbookFormat::Ods => Ok(Book::Ods(Ods::new(reader()?)?)),
            WorkbookFormat::Xls => {
                // Also recognises an encrypted xlsx, which is an OLE2 file too.
                xls_guard::check(path)?;
                xls_area::check(path)?;
                Ok(Book::Xls(Xls::new(reader()?)?))
            }
        }
    }

    fn sheets_metadata(&self) -> &[calamine::Sheet] {
        match self {
            Book::Xlsx(book) => book.sheets_metadata(),
            Book::Xls(book) => book.sheets_metadata(),
            Book::Ods(book) => book.sheets_metadata(),
        }
    }

    /// The worksheets, as [`sheet_names`] lists them.
    fn worksheets(&self) -> Result<Vec<(String, bool)>, WorkbookError> {
        let sheets: Vec<(String, bool)> = self
            .sheets_metadata()
            .iter()
            .filter(|sheet| sheet.typ == SheetType::WorkSheet)
            .map(|sheet| (sheet.name.clone(), sheet.visible == SheetVisible::Visible))
            .collect();
        if sheets.is_empty() {
            return Err(WorkbookError::NoWorksheet);
        }
        Ok(sheets)
    }
}

/// The names of the workbook's worksheets (not chart sheets), in workbook order, visible
/// and hidden alike, each with `true` when it is visible. A workbook without worksheet is
/// [`WorkbookError::NoWorksheet`]. Only the sheet list is read, without calamine and in
/// bounded memory (see `sheets`), so the API may call it on any upload.
#[cfg(test)]
pub(crate) fn sheet_names(
    path: &Path,
    format: WorkbookFormat,
) -> Result<Vec<(String, bool)>, WorkbookError> {
    contain_panics(|| sheets::list(path, format))
}

/// The name of the worksheet `choice` means (the rules of [`SheetRows::open`]), without
/// reading any sheet (the list of [`sheet_names`]): for checking a choice before an
/// import, in the API. An unknown sheet is
/// [`WorkbookError::UnknownSheet`] listing the names.
pub(crate) fn sheet_for(
    path: &Path,
    format: WorkbookFormat,
    choice: Option<&SheetChoice>,
) -> Result<String, WorkbookError> {
    contain_panics(|| choose(&sheets::list(path, format)?, choice))
}

/// The error for a file whose reading made calamine panic.
fn damaged() -> WorkbookError {
    WorkbookError::Corrupt("its structure is damaged".to_owned())
}

/// Runs calamine on an uploaded file, turning a panic into [`WorkbookError::Corrupt`].
///
/// calamine 0.36 panics on some malformed files (out-of-range slices in its OLE2 reader
/// on a truncated `.xls`, found by the property tests); an upload must not take the
/// worker down. The panic message still reaches the panic hook (stderr). Whatever the
/// closure was working on is dropped with the error, so no half-updated state is used
/// afterwards. This needs `panic = "unwind"`, the default profile setting.
fn contain_panics<T>(read: impl FnOnce() -> Result<T, WorkbookError>) -> Result<T, WorkbookError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| Err(damaged()))
}

/// Which worksheet `choice` means among `sheets` (see [`SheetRows::open`]).
fn choose(
    sheets: &[(String, bool)],
    choice: Option<&SheetChoice>,
) -> Result<String, WorkbookError> {
    let found = match choice {
        None => sheets
            .iter()
            .find(|(_, visible)| *visible)
            .or_else(|| sheets.first()),
        Some(SheetChoice::Index(n)) => n
            .checked_sub(1)
            .and_then(|i| sheets.get(i))
            .or_else(|| sheets.iter().find(|(name, _)| *name == n.to_string())),
        Some(SheetChoice::Name(wanted)) => {
            sheets.iter().find(|(name, _)| name == wanted).or_else(|| {
                sheets
                    .iter()
                    .find(|(name, _)| name.to_lowercase() == wanted.to_lowercase())
            })
        }
    };
    match found {
        Some((name, _)) => Ok(name.clone()),
        None => Err(WorkbookError::UnknownSheet {
            wanted: choice.map(SheetChoice::wanted).unwrap_or_default(),
            sheets: sheets.iter().map(|(name, _)| name.clone()).collect(),
        }),
    }
}

/// Where the rows of an open sheet come from.
enum Source {
    /// An xlsx sheet streamed on a helper thread.
    Stream(xlsx_stream::RowStream),
    /// An xls or ods sheet loaded whole; `next` is the index of the next range row.
    Loaded { range: Range<Data>, next: usize },
}

/// One sheet, read row by row.
pub(crate) struct SheetRows {
    sheet_name: String,
    last_row_hint: Option<u32>,
    source: Source,
    /// The first non-empty row, read by `open` to tell an empty sheet.
    first: Option<(u32, Vec<String>)>,
}

impl std::fmt::Debug for SheetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetRows")
            .field("sheet_name", &self.sheet_name)
            .field("last_row_hint", &self.last_row_hint)
            .finish_non_exhaustive()
    }
}

impl SheetRows {
    /// Opens `sheet`, by default the first visible worksheet (the first worksheet when all
    /// are hidden). An index counts worksheets as listed by [`sheet_names`] (1-based,
    /// hidden ones included); when it is beyond their number but a worksheet is named with
    /// those digits ("2024"), that one is opened. Names match exactly, else without regard
    /// to case. An unknown sheet is [`WorkbookError::UnknownSheet`] listing the names.
    ///
    /// A sheet without any non-empty cell is reported here, as
    /// [`WorkbookError::EmptySheet`], so `next_row` never has to.
    pub(crate) fn open(
        path: &Path,
        format: WorkbookFormat,
        sheet: Option<&SheetChoice>,
    ) -> Result<SheetRows, WorkbookError> {
        let (book, sheet_name) = contain_panics(|| {
            let book = Book::open(path, format)?;
            let sheet_name = choose(&book.worksheets()?, sheet)?;
            Ok((book, sheet_name))
        })?;
        let (source, last_row_hint) = match book {
            Book::Xlsx(book) => {
                let stream = xlsx_stream::RowStream::start(book, sheet_name.clone())?;
                let hint = stream
                    .last_row_hint()
                    .or_else(|| dimension::declared_last_row(path, &sheet_name));
                (Source::Stream(stream), hint)
            }
            Book::Xls(mut book) => {
                contain_panics(|| Ok(loaded(book.worksheet_range(&sheet_name)?)))?
            }
            Book::Ods(mut book) => {
                contain_panics(|| Ok(loaded(book.worksheet_range(&sheet_name)?)))?
            }
        };
        let mut rows = SheetRows {
            sheet_name,
            last_row_hint,
            source,
            first: None,
        };
        let mut cells = Vec::new();
        match rows.read_row(&mut cells)? {
            Some(row) => rows.first = Some((row, cells)),
            None => {
                return Err(WorkbookError::EmptySheet {
                    sheet: rows.sheet_name,
                });
            }
        }
        Ok(rows)
    }

    /// The name of the sheet being read.
    #[cfg(test)]
    pub(crate) fn sheet_name(&self) -> &str {
        &self.sheet_name
    }

    /// The last row number (1-based) the sheet declares in its dimensions, if known: for
    /// progress only, since a file may declare wrong dimensions.
    pub(crate) fn last_row_hint(&self) -> Option<u32> {
        self.last_row_hint
    }

    /// Fills `cells` with the next row that has at least one non-empty cell and returns
    /// its 1-based sheet row number (as Excel shows it), or `Ok(None)` at the end. Fully
    /// empty rows are skipped. Cells are text ([`cell_text`]); a cell's position is its
    /// column index from column A, gaps inside the row are `""`, trailing empty cells are
    /// removed.
    pub(crate) fn next_row(
        &mut self,
        cells: &mut Vec<String>,
    ) -> Result<Option<u32>, WorkbookError> {
        if let Some((row, first)) = self.first.take() {
            *cells = first;
            return Ok(Some(row));
        }
        self.read_row(cells)
    }

    fn read_row(&mut self, cells: &mut Vec<String>) -> Result<Option<u32>, WorkbookError> {
        cells.clear();
        match &mut self.source {
            Source::Stream(stream) => stream.next_row(cells),
            Source::Loaded { range, next } => {
                let Some((start_row, start_col)) = range.start() else {
                    return Ok(None);
                };
                while let Some(row) = range.rows().nth(*next) {
                    let row_number = start_row as usize + *next + 1;
                    *next += 1;
                    for (i, cell) in row.iter().enumerate() {
                        let text = cell_text(cell);
                        if !text.is_empty() {
                            put_cell(cells, start_col as usize + i, text)?;
                        }
                    }
                    if !cells.is_empty() {
                        return Ok(Some(u32::try_from(row_number).unwrap_or(u32::MAX)));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The source and row hint of a loaded sheet.
fn loaded(range: Range<Data>) -> (Source, Option<u32>) {
    let hint = range.end().map(|(row, _)| row.saturating_add(1));
    (Source::Loaded { range, next: 0 }, hint)
}

/// Puts a non-empty `text` at column `column` (0-based) of `cells`, padding the gap
/// before it with empty cells.
fn put_cell(cells: &mut Vec<String>, column: usize, text: String) -> Result<(), WorkbookError> {
    if column >= MAX_COLUMNS as usize {
        return Err(WorkbookError::Corrupt(format!(
            "a cell is in column {}, beyond the last column XFD",
            column + 1
        )));
    }
    if column < cells.len() {
        cells[column] = text;
    } else {
        cells.resize(column, String::new());
        cells.push(text);
    }
    Ok(())
}
