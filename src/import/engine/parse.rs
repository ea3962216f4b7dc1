//! The parser thread: opens the upload, maps its header, reads and validates the rows and
//! cuts them into chunks split by key, one part per writer, encoding each part's upsert.

use csv::StringRecord;
use tokio::sync::mpsc;

use super::{Chunk, ImportRequest, error::ImportError};
use crate::domain::{Problem, ProblemCode};
use crate::import::{
    csv_source::{self, CsvFormat, SourceError},
    error_file::RejectedRow,
    header::{self, ColumnMap},
    kind::{ImportKind, WriteScope},
    limits,
    records::{OpenError, ReadError, Records},
    workbook::WorkbookError,
};

pub(super) type OpenedFile = (Records, CsvFormat, ColumnMap, Vec<String>);

/// Opens the upload (a workbook's sheet, or a CSV sniffed for its encoding and
/// delimiter), reads the header line and maps its columns.
pub(super) fn open_and_resolve<K: ImportKind>(
    request: &ImportRequest,
) -> Result<OpenedFile, ImportError> {
    let (mut records, format) =
        Records::open(&request.path, request.sheet.as_ref()).map_err(|e| match e {
            OpenError::Csv(SourceError::Io(io)) => ImportError::Io(io),
            other => ImportError::BadFile(other.to_string()),
        })?;
    let mut header = StringRecord::new();
    loop {
        match records.read(&mut header) {
            Ok(true) if csv_source::is_blank(&header) => continue,
            Ok(true) => break,
            Ok(false) => return Err(ImportError::BadFile("the file has no header line".into())),
            Err(ReadError::Csv(e)) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                return Err(ImportError::BadFile(
                    "the header line contains characters that cannot be read as UTF-8; save \
                     the file as UTF-8 CSV"
                        .into(),
                ));
            }
            Err(e) => return Err(read_error(e)),
        }
    }
    limits::check_header(&header).map_err(ImportError::BadFile)?;
    let columns = header::resolve(&header, K::FIELDS, request.mapping.as_ref())
        .map_err(|e| ImportError::BadFile(format!("the header line is not usable: {e}")))?;
    let names = columns.header_names().map(str::to_owned).collect();
    records.set_width(columns.width());
    Ok((records, format, columns, names))
}

/// A read error that is not about one row: the file cannot be read on.
pub(super) fn read_error(error: ReadError) -> ImportError {
    match error {
        ReadError::Csv(e) => csv_error(e),
        ReadError::Workbook(WorkbookError::Io(io)) => ImportError::Io(io),
        ReadError::Workbook(e) => ImportError::BadFile(e.to_string()),
    }
}

/// A CSV error that is not about one row: the file cannot be read on.
pub(super) fn csv_error(error: csv::Error) -> ImportError {
    match error.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::BadFile(format!("the file cannot be read as CSV: {other:?}")),
    }
}

/// The parser thread: reads records, validates them and sends chunks.
pub(super) fn parse_chunks<K: ImportKind>(
    mut records: Records,
    format: &CsvFormat,
    columns: &ColumnMap,
    scope: WriteScope,
    chunk_rows: usize,
    writers: usize,
    tx: &mpsc::Sender<Result<Chunk<K::Row>, ImportError>>,
) -> Result<(), ImportError> {
    // Rows split by a hash of their key, so a part gets a few more or fewer than its
    // share (the standard deviation is ~32 rows of 4000 over two writers): the slack
    // keeps its vectors from doubling for the last few rows.
    let share = chunk_rows.div_ceil(writers);
    let part_capacity = share + share / 16 + 16;
    // Encoding here overlaps with Postgres executing the previous chunk.
    let send = |mut chunk: Chunk<K::Row>| {
        for part in &mut chunk.parts {
            part.prepared = match K::prepare(scope, columns, &part.rows) {
                Some(Ok(prepared)) => Some(prepared),
                Some(Err(error)) => {
                    tracing::warn!(%error, "could not encode a chunk ahead; the writer will");
                    None
                }
                None => None,
            };
        }
        // False once the writer has stopped (cancel or failure).
        tx.blocking_send(Ok(chunk)).is_ok()
    };
    let mut chunk = Chunk::new(writers, part_capacity, columns.width());
    let mut record = StringRecord::new();
    loop {
        match records.read(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(ReadError::Csv(e)) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                // Only reachable for mixed encodings; report the row, keep going.
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                chunk.rows_read += 1;
                chunk.rejected.push(RejectedRow {
                    record: StringRecord::new(),
                    line,
                    problems: vec![Problem::of_row(
                        ProblemCode::UnreadableText,
                        "the row contains characters that cannot be read",
                    )],
                });
                continue;
            }
            Err(e) => {
                // The writer gets its own copy; a read failure stays an I/O error (worth a
                // retry), a malformed file stays a bad file.
                let err = read_error(e);
                let copy = match &err {
                    ImportError::Io(io) => {
                        ImportError::Io(std::io::Error::new(io.kind(), io.to_string()))
                    }
                    other => ImportError::BadFile(other.to_string()),
                };
                let _ = tx.blocking_send(Err(copy));
                return Err(err);
            }
        }
        if csv_source::is_blank(&record) {
            continue;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        chunk.rows_read += 1;
        chunk.bytes_held += limits::record_cost(&record);
        let parsed = limits::check_row(&record, columns.header_cells())
            .and_then(|()| columns.check_width(&record))
            .map_err(|problem| vec![problem])
            .and_then(|()| K::parse(columns, &record, format));
        match parsed {
            Ok(row) => {
                let part = &mut chunk.parts[(K::partition_key(&row) % writers as u64) as usize];
                part.rows.push(row);
                part.sources.push(&record, line);
            }
            Err(problems) => chunk.rejected.push(RejectedRow {
                record: record.clone(),
                line,
                problems,
            }),
        }
        if chunk.rows_read as usize >= chunk_rows || chunk.bytes_held >= limits::MAX_CHUNK_BYTES {
            let mut full = std::mem::replace(
                &mut chunk,
                Chunk::new(writers, part_capacity, columns.width()),
            );
            full.bytes_read = records.bytes_read();
            if !send(full) {
                return Ok(()); // The writer stopped (cancel or failure).
            }
        }
    }
    if chunk.rows_read > 0 {
        chunk.bytes_read = records.bytes_read();
        send(chunk);
    }
    Ok(())
}
