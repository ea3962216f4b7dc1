//! The rows of an xlsx sheet, streamed: calamine's `worksheet_cells_reader` yields the
//! cells in document order without loading the sheet, but it borrows the workbook. A
//! helper thread owns the workbook and the reader and sends finished rows through a
//! bounded channel, which keeps `SheetRows` free of self-references and of `unsafe`, and
//! turns a panic inside calamine on a malformed file into an error instead of a crash.

use std::fs::File;
use std::io::BufReader;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Dimensions, Xlsx};

use super::{WorkbookError, cell_ref_text, put_cell};

/// Rows buffered between the thread and the reader: enough to keep both busy, few
/// enough that memory stays bounded.
const CHANNEL_ROWS: usize = 64;

enum Message {
    /// The sheet is open; its last row (1-based) if its dimensions are declared.
    Ready(Option<u32>),
    /// A non-empty row: its 1-based number and cells.
    Row(u32, Vec<String>),
    /// The end of the sheet.
    End,
    /// The sheet cannot be read further.
    Failed(WorkbookError),
}

/// The receiving end of a streamed sheet.
pub(super) struct RowStream {
    rows: Receiver<Message>,
    last_row_hint: Option<u32>,
    done: bool,
}

/// What to say when the thread ended without a word: it panicked inside calamine.
fn stopped() -> WorkbookError {
    super::damaged()
}

impl RowStream {
    /// Starts reading `sheet` of `book` on a helper thread; returns once the sheet is
    /// open (or could not be).
    pub(super) fn start(
        book: Xlsx<BufReader<File>>,
        sheet: String,
    ) -> Result<RowStream, WorkbookError> {
        let (sender, rows) = sync_channel(CHANNEL_ROWS);
        std::thread::Builder::new()
            .name("workbook-rows".to_owned())
            .spawn(move || stream_rows(book, &sheet, &sender))?;
        match rows.recv() {
            Ok(Message::Ready(last_row_hint)) => Ok(RowStream {
                rows,
                last_row_hint,
                done: false,
            }),
            Ok(Message::Failed(e)) => Err(e),
            Ok(Message::Row(..) | Message::End) | Err(_) => Err(stopped()),
        }
    }

    pub(super) fn last_row_hint(&self) -> Option<u32> {
        self.last_row_hint
    }

    /// The next non-empty row into `cells` (which the caller has cleared).
    pub(super) fn next_row(
        &mut self,
        cells: &mut Vec<String>,
    ) -> Result<Option<u32>, WorkbookError> {
        if self.done {
            return Ok(None);
        }
        let message = self.rows.recv();
        match message {
            Ok(Message::Row(row, row_cells)) => {
                *cells = row_cells;
                Ok(Some(row))
            }
            Ok(Message::End) => {
                self.done = true;
                Ok(None)
            }
            Ok(Message::Failed(e)) => {
                self.done = true;
                Err(e)
            }
            Ok(Message::Ready(_)) | Err(_) => {
                self.done = true;
                Err(stopped())
            }
        }
    }
}

/// The helper thread: reads the cells in order and sends a row each time the row number
/// changes. It stops when the receiver is gone (the sheet was dropped before its end).
fn stream_rows(mut book: Xlsx<BufReader<File>>, sheet: &str, sender: &SyncSender<Message>) {
    let mut reader = match book.worksheet_cells_reader(sheet) {
        Ok(reader) => reader,
        Err(e) => {
            let _ = sender.send(Message::Failed(e.into()));
            return;
        }
    };
    let dimensions = reader.dimensions();
    // A sheet without a <dimension> element reports the default (A1:A1); it says nothing.
    let hint = (dimensions != Dimensions::default()).then(|| dimensions.end.0.saturating_add(1));
    if sender.send(Message::Ready(hint)).is_err() {
        return;
    }
    let mut current: Option<u32> = None;
    let mut cells: Vec<String> = Vec::new();
    loop {
        let message = match reader.next_cell() {
            Ok(Some(cell)) => {
                let (row, column) = cell.get_position();
                let text = cell_ref_text(cell.get_value());
                if text.is_empty() {
                    continue;
                }
                let mut finished = None;
                if current != Some(row) {
                    if let Some(previous) = current
                        && !cells.is_empty()
                    {
                        finished = Some(Message::Row(
                            previous.saturating_add(1),
                            std::mem::take(&mut cells),
                        ));
                    }
                    current = Some(row);
                }
                if let Err(e) = put_cell(&mut cells, column as usize, text) {
                    let _ = sender.send(Message::Failed(e));
                    return;
                }
                match finished {
                    Some(message) => message,
                    None => continue,
                }
            }
            Ok(None) => {
                if let Some(row) = current
                    && !cells.is_empty()
                    && sender
                        .send(Message::Row(
                            row.saturating_add(1),
                            std::mem::take(&mut cells),
                        ))
                        .is_err()
                {
                    return;
                }
                let _ = sender.send(Message::End);
                return;
            }
            Err(e) => {
                let _ = sender.send(Message::Failed(e.into()));
                return;
            }
        };
        if sender.send(message).is_err() {
            return;
        }
    }
}
