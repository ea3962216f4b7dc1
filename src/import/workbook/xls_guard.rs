//! Checks an `.xls` (OLE2) file before calamine parses it.
//!
//! calamine 0.36 parses every sheet of an xls when it opens the file, and reserves memory
//! for each sheet from the row and column counts its DIMENSIONS record declares: a
//! damaged or hostile record (found by the property tests) asks for hundreds of gigabytes,
//! and a failed allocation aborts the whole process, which no `catch_unwind` can stop. So
//! the workbook stream is walked here first, with the `cfb` crate, and a DIMENSIONS record
//! beyond BIFF8's limits (65,536 rows, 256 columns) refuses the file. The same container
//! tells an encrypted xlsx (an `EncryptedPackage` stream) from an xls.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use super::WorkbookError;

/// BIFF record type of DIMENSIONS ([MS-XLS] 2.4.90).
const DIMENSIONS: u16 = 0x0200;
/// BIFF8's last row number plus one, and column count.
const MAX_ROWS: u32 = 65_536;
const MAX_COLUMNS: u32 = 256;

fn corrupt(e: std::io::Error) -> WorkbookError {
    WorkbookError::Corrupt(format!("the Excel 97-2003 container is damaged ({e})"))
}

/// `Ok` when calamine may parse the file; `Encrypted` for an encrypted OOXML package;
/// `Corrupt` for a container the `cfb` crate cannot read or impossible dimensions.
pub(super) fn check(path: &Path) -> Result<(), WorkbookError> {
    let file = BufReader::new(File::open(path)?);
    let mut container = cfb::CompoundFile::open(file).map_err(corrupt)?;
    if container.is_stream("/EncryptedPackage") {
        return Err(WorkbookError::Encrypted);
    }
    // calamine reads "Workbook" (BIFF8), else "Book" (BIFF5); without either it reports
    // the missing stream itself.
    let Some(name) = ["/Workbook", "/Book"]
        .into_iter()
        .find(|name| container.is_stream(name))
    else {
        return Ok(());
    };
    let mut stream = BufReader::new(container.open_stream(name).map_err(corrupt)?);
    let mut header = [0u8; 4];
    let mut data = Vec::new();
    loop {
        match stream.read_exact(&mut header) {
            Ok(()) => (),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(corrupt(e)),
        }
        let typ = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        data.resize(len, 0);
        match stream.read_exact(&mut data) {
            Ok(()) => (),
            // calamine reports a cut record itself.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(corrupt(e)),
        }
        if typ == DIMENSIONS && !dimensions_are_possible(&data) {
            return Err(WorkbookError::Corrupt(
                "a sheet declares impossible dimensions".to_owned(),
            ));
        }
    }
}

/// Whether a DIMENSIONS record stays within BIFF8's sheet size, read as calamine reads
/// it (10 bytes in BIFF5, 14 in BIFF8; first row, last row + 1, first column, last
/// column + 1). Records of other lengths calamine refuses itself.
fn dimensions_are_possible(data: &[u8]) -> bool {
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([data[i], data[i + 1]]));
    let (first_row, end_row, end_column) = match data.len() {
        10 => (u16_at(0), u16_at(2), u16_at(6)),
        14 => (
            u32::from_le_bytes([data[0], data[1], data[2], data[3]]),
            u32::from_le_bytes([data[4], data[5], data[6], data[7]]),
            u16_at(10),
        ),
        _ => return true,
    };
    // calamine computes end_row - 1 - first_row + 1 rows when both ends are >= 1.
    if end_row == 0 || end_column == 0 {
        return true;
    }
    end_row > first_row && end_row <= MAX_ROWS && end_column <= MAX_COLUMNS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn biff8(first_row: u32, end_row: u32, first_col: u16, end_col: u16) -> Vec<u8> {
        [
            &first_row.to_le_bytes()[..],
            &end_row.to_le_bytes(),
            &first_col.to_le_bytes(),
            &end_col.to_le_bytes(),
            &[0, 0],
        ]
        .concat()
    }

    #[test]
    fn dimensions_within_biff8_limits_pass() {
        assert!(dimensions_are_possible(&biff8(0, 10, 0, 5)));
        assert!(dimensions_are_possible(&biff8(0, 65_536, 0, 256)));
        assert!(dimensions_are_possible(&biff8(0, 0, 0, 0)));
        assert!(dimensions_are_possible(&[0; 3]));
    }

    #[test]
    fn impossible_dimensions_fail() {
        assert!(!dimensions_are_possible(&biff8(0, 4_000_000_000, 0, 256)));
        assert!(!dimensions_are_possible(&biff8(0, 100, 0, 60_000)));
        // A last row before the first would underflow calamine's row count.
        assert!(!dimensions_are_possible(&biff8(50, 10, 0, 5)));
        let biff5 = [0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0];
        assert!(!dimensions_are_possible(&biff5));
    }
}
