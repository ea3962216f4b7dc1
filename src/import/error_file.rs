//! The error CSV: the original columns of each failed row, then `Line` and `Error`.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use csv::StringRecord;

/// A row that could not be imported.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    /// The row's fields as read from the upload.
    pub record: StringRecord,
    /// The physical line in the upload where the row starts (the header is line 1).
    pub line: u64,
    /// Every problem of the row, in words a sales admin understands.
    pub problems: Vec<String>,
}

/// Writes the error CSV lazily: no file exists until the first rejected row.
pub struct ErrorFileWriter {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<BufWriter<File>>>,
    rows: u64,
}

impl ErrorFileWriter {
    /// Prepares a writer for `path` with the upload's header cells.
    pub fn new(path: &Path, header: Vec<String>) -> Self {
        Self {
            path: path.to_owned(),
            header,
            writer: None,
            rows: 0,
        }
    }

    /// Appends one rejected row, padded or cut to the header's width.
    pub fn write(&mut self, row: &RejectedRow) -> std::io::Result<()> {
        let width = self.header.len();
        if self.writer.is_none() {
            let mut file = BufWriter::new(File::create(&self.path)?);
            // A UTF-8 BOM makes Excel read the file as UTF-8 instead of the locale's code page.
            file.write_all("\u{feff}".as_bytes())?;
            let mut writer = csv::Writer::from_writer(file);
            writer.write_record(
                self.header
                    .iter()
                    .map(String::as_str)
                    .chain(["Line", "Error"]),
            )?;
            self.writer = Some(writer);
        }
        let writer = self.writer.as_mut().expect("created above");
        let line = row.line.to_string();
        let error = row.problems.join("; ");
        let fields = (0..width).map(|i| row.record.get(i).unwrap_or(""));
        writer.write_record(fields.chain([line.as_str(), error.as_str()]))?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes the file; returns whether one was written.
    pub fn finish(mut self) -> std::io::Result<bool> {
        match self.writer.take() {
            Some(mut writer) => {
                writer.flush()?;
                let file = writer.into_inner().map_err(|e| e.into_error())?;
                file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(true)
            }
            None => {
                // A re-run that finds no errors must not leave an older run's file behind.
                match std::fs::remove_file(&self.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(false),
                }
            }
        }
    }
}
