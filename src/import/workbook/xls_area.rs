//! Bounds the cells calamine builds for an `.xls`, checked before calamine opens it
//! (issue 18), after `xls_guard`.
//!
//! When it opens an xls, calamine 0.36 turns every sheet into two dense ranges (values,
//! 32 bytes a cell, and formulas, 24) covering the rectangle from the sheet's first to its
//! last cell, whatever lies between: two cells at A1 and at row 65,536, column 65,536 (a
//! BIFF record's column is 16 bits, whatever BIFF8's 256 columns) ask for 4.3 billion
//! cells, and the failed allocation aborts the process. So the workbook stream is walked
//! here as calamine walks it: from each sheet's BoundSheet8 position to its EOF record,
//! the rectangle of its cell records is measured and the rectangles of all sheets are
//! added up against [`MAX_XLS_CELLS`].

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::WorkbookError;
use super::budget::MAX_PART_BYTES;

/// The most cells the used rectangles of an xls's sheets may cover together: about 56
/// bytes each in calamine's two ranges, so 2,000,000 cells are ~112 MB, inside a 256 MB
/// worker. A full BIFF8 sheet of 65,536 rows is refused beyond 30 columns; an xls of the
/// 20 MB upload limit rarely holds more than a few hundred thousand cells.
pub(crate) const MAX_XLS_CELLS: u64 = 2_000_000;

/// BIFF record types ([MS-XLS] 2.3).
const BOUNDSHEET8: u16 = 0x0085;
const EOF: u16 = 0x000A;
const MULRK: u16 = 0x00BD;
/// Records whose first four bytes are a cell's row and column.
const CELL_RECORDS: [u16; 7] = [0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006];

/// `Ok` when the sheets' rectangles fit [`MAX_XLS_CELLS`]. A container or stream that
/// cannot be read is left to calamine to report.
pub(super) fn check(path: &Path) -> Result<(), WorkbookError> {
    let Ok(mut container) = cfb::CompoundFile::open(BufReader::new(File::open(path)?)) else {
        return Ok(());
    };
    let Some(name) = ["/Workbook", "/Book"]
        .into_iter()
        .find(|name| container.is_stream(name))
    else {
        return Ok(());
    };
    let Ok(stream) = container.open_stream(name) else {
        return Ok(());
    };
    let mut bytes = Vec::new();
    if stream
        .take(MAX_PART_BYTES + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Ok(());
    }
    if bytes.len() as u64 > MAX_PART_BYTES {
        return Err(WorkbookError::OverLimit(format!(
            "its workbook stream is more than {} (limit)",
            super::budget::size_text(MAX_PART_BYTES)
        )));
    }
    check_stream(&bytes)
}

/// The records of `stream` from `at`: (type, data), until the stream ends or a record is
/// cut.
fn records(stream: &[u8], mut at: usize) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let header = stream.get(at..at + 4)?;
        let typ = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let data = stream.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((typ, data))
    })
}

fn check_stream(stream: &[u8]) -> Result<(), WorkbookError> {
    let u16_at = |d: &[u8], i: usize| u64::from(u16::from_le_bytes([d[i], d[i + 1]]));
    // The globals end at the first EOF; their BoundSheet8 records say where sheets start.
    let positions: Vec<usize> = records(stream, 0)
        .take_while(|(typ, _)| *typ != EOF)
        .filter(|(typ, data)| *typ == BOUNDSHEET8 && data.len() >= 4)
        .map(|(_, data)| u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize)
        .collect();
    let mut total: u64 = 0;
    for position in positions {
        // (first row, last row, first column, last column)
        let mut area: Option<(u64, u64, u64, u64)> = None;
        let mut widen = |row: u64, first: u64, last: u64| {
            let (r0, r1, c0, c1) = area.get_or_insert((row, row, first, last));
            *r0 = (*r0).min(row);
            *r1 = (*r1).max(row);
            *c0 = (*c0).min(first);
            *c1 = (*c1).max(last);
        };
        for (typ, data) in records(stream, position) {
            match typ {
                EOF => break,
                MULRK if data.len() >= 6 => {
                    let (first, last) = (u16_at(data, 2), u16_at(data, data.len() - 2));
                    widen(u16_at(data, 0), first.min(last), first.max(last));
                }
                typ if CELL_RECORDS.contains(&typ) && data.len() >= 4 => {
                    let column = u16_at(data, 2);
                    widen(u16_at(data, 0), column, column);
                }
                _ => (),
            }
        }
        if let Some((r0, r1, c0, c1)) = area {
            total = total.saturating_add((r1 - r0 + 1) * (c1 - c0 + 1));
        }
        if total > MAX_XLS_CELLS {
            return Err(WorkbookError::OverLimit(format!(
                "its sheets span {total} cells from their first to their last cell, more than \
                 the limit of {MAX_XLS_CELLS} cells"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        [
            &typ.to_le_bytes()[..],
            &(data.len() as u16).to_le_bytes(),
            data,
        ]
        .concat()
    }

    fn number(row: u16, col: u16) -> Vec<u8> {
        let data = [&row.to_le_bytes()[..], &col.to_le_bytes(), &[0; 10]].concat();
        record(0x0203, &data)
    }

    /// Globals with one BoundSheet8 per position in `sheets` (filled in), then `sheet`.
    fn stream(sheets: usize, sheet: &[Vec<u8>]) -> Vec<u8> {
        let bound = |pos: u32| {
            record(
                BOUNDSHEET8,
                &[&pos.to_le_bytes()[..], &[0, 0, 1, 0, b'S']].concat(),
            )
        };
        let globals_len = sheets * bound(0).len() + record(EOF, &[]).len();
        let mut out = Vec::new();
        for _ in 0..sheets {
            out.extend(bound(globals_len as u32));
        }
        out.extend(record(EOF, &[]));
        for r in sheet {
            out.extend(r.iter());
        }
        out.extend(record(EOF, &[]));
        out
    }

    #[test]
    fn a_sheet_of_opposite_corners_is_refused() {
        let ok = stream(1, &[number(0, 0), number(999, 99)]);
        check_stream(&ok).unwrap();
        let bomb = stream(1, &[number(0, 0), number(65_535, 65_535)]);
        let err = check_stream(&bomb).unwrap_err();
        assert!(err.to_string().contains("4294967296 cells"), "{err}");
    }

    #[test]
    fn a_sheet_listed_many_times_counts_each_time() {
        // calamine builds the ranges once per BoundSheet8, even at the same position.
        let one = stream(1, &[number(0, 0), number(999, 999)]);
        check_stream(&one).unwrap();
        let many = stream(3, &[number(0, 0), number(999, 999)]);
        assert!(matches!(
            check_stream(&many),
            Err(WorkbookError::OverLimit(_))
        ));
    }
}
