//! Where the engine's records come from: a CSV file as people export it, or one sheet of
//! an Excel or OpenDocument workbook. Both give `StringRecord`s whose position line is
//! where the user finds the row: the file's line for a CSV, the sheet's row number for a
//! workbook.

use std::{io::Read, path::Path};

use csv::StringRecord;
use encoding_rs::UTF_8;

use super::{
    csv_source::{self, BytesRead, CsvFormat, SourceError},
    workbook::{self, SheetChoice, SheetRows, WorkbookError},
};

/// The records of an upload, after its header-less opening.
pub(crate) enum Records {
    /// A CSV file, decoded to UTF-8.
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        bytes_read: BytesRead,
    },
    /// One sheet of a workbook.
    Sheet {
        rows: Box<SheetRows>,
        cells: Vec<String>,
        file_size: u64,
        /// The sheet row of the last record read.
        last_row: u32,
        /// The header's width once known: rows are cut or padded to it.
        width: Option<usize>,
    },
}

/// Why an upload cannot be opened for its records. Messages are meant for a sales admin.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// The CSV cannot be read (encoding, binary data, empty).
    #[error(transparent)]
    Csv(#[from] SourceError),
    /// The workbook or its sheet cannot be read.
    #[error(transparent)]
    Workbook(#[from] WorkbookError),
}

/// Why the next record cannot be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The CSV reader's error (one row's text, or the file from there on).
    Csv(csv::Error),
    /// The workbook is damaged from here on.
    Workbook(WorkbookError),
}

impl Records {
    /// Opens the upload at `path`: a workbook (recognised by its content) at `sheet` (the
    /// first visible sheet by default), else a CSV, sniffed for its encoding and delimiter.
    /// The format tells the values' conventions: a workbook's cells are typed, so they
    /// read like a comma-delimited UTF-8 file's.
    pub(crate) fn open(
        path: &Path,
        sheet: Option<&SheetChoice>,
    ) -> Result<(Self, CsvFormat), OpenError> {
        if let Some(format) = workbook::detect(path).map_err(SourceError::Io)? {
            let rows = SheetRows::open(path, format, sheet)?;
            let file_size = std::fs::metadata(path).map_err(SourceError::Io)?.len();
            let records = Self::Sheet {
                rows: Box::new(rows),
                cells: Vec::new(),
                file_size,
                last_row: 0,
                width: None,
            };
            let format = CsvFormat {
                delimiter: b',',
                encoding: UTF_8,
                had_bom: false,
            };
            return Ok((records, format));
        }
        let format = csv_source::sniff(path)?;
        let (reader, bytes_read) = csv_source::open_counted(path, &format)?;
        Ok((Self::Csv { reader, bytes_read }, format))
    }

    /// Reads the next record into `record`; false at the end. Its position line is the
    /// file's line (CSV) or the sheet's row number (workbook). Fully empty sheet rows are
    /// skipped; blank CSV lines come back as blank records.
    pub(crate) fn read(&mut self, record: &mut StringRecord) -> Result<bool, ReadError> {
        match self {
            Self::Csv { reader, .. } => {
                csv_source::read_record(reader, record).map_err(ReadError::Csv)
            }
            Self::Sheet {
                rows,
                cells,
                last_row,
                width,
                ..
            } => {
                let Some(row) = rows.next_row(cells).map_err(ReadError::Workbook)? else {
                    return Ok(false);
                };
                *last_row = row;
                if let Some(width) = *width {
                    cells.resize(width, String::new());
                }
                record.clear();
                for cell in cells.iter() {
                    record.push_field(cell);
                }
                let mut position = csv::Position::new();
                position.set_line(u64::from(row));
                record.set_position(Some(position));
                Ok(true)
            }
        }
    }

    /// Tells the header's width. A sheet's rows are then cut or padded to it: a cell
    /// without a column name is nobody's value (a note beside the table), and empty
    /// cells at a row's end are not stored in a workbook at all. A CSV's rows stay as
    /// they are, to be checked against the header.
    pub(crate) fn set_width(&mut self, header_width: usize) {
        if let Self::Sheet { width, .. } = self {
            *width = Some(header_width);
        }
    }

    /// About how far into the upload the records read so far reach, in the upload's
    /// bytes (for progress): counted for a CSV, estimated from the sheet's row count for
    /// a workbook, whose bytes are compressed.
    pub(crate) fn bytes_read(&self) -> u64 {
        match self {
            Self::Csv { bytes_read, .. } => bytes_read.get(),
            Self::Sheet {
                rows,
                file_size,
                last_row,
                ..
            } => match rows.last_row_hint() {
                Some(last) if last > 0 => {
                    (*file_size * u64::from(*last_row) / u64::from(last)).min(*file_size)
                }
                _ => 0,
            },
        }
    }
}
