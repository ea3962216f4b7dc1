//! The raw records of the rows a writer is given, kept for the error file: a row the
//! database refuses is written there with its cells as read.
//!
//! One buffer per part instead of a copy of each `StringRecord`: two allocations per
//! row less to make on the parser thread and to free on another (measured: freeing a
//! part's rows and records was a quarter of the worker's CPU time on new rows).

use csv::StringRecord;

/// The most text room reserved ahead (a part of 2,000 ordinary rows needs about 0.5 MB).
const MAX_RESERVED: usize = 2 << 20;

/// The most cell ends reserved ahead (a part of 2,000 rows of 12 cells needs 24,000).
const MAX_RESERVED_CELLS: usize = 1 << 16;

/// The records of a part's rows, in the order they were pushed.
#[derive(Debug, Default)]
pub(crate) struct SourceRecords {
    /// Every cell's text, back to back.
    text: String,
    /// Where each cell ends in `text`.
    cell_ends: Vec<usize>,
    /// Per record: the index of its first cell in `cell_ends`, and its line.
    records: Vec<(usize, u64)>,
}

impl SourceRecords {
    /// Room for `records` records of about `cells` cells each.
    pub(crate) fn with_capacity(records: usize, cells: usize) -> Self {
        Self {
            text: String::new(),
            // Capped like the text: a header of thousands of columns must not reserve
            // that many cells for every row ahead.
            cell_ends: Vec::with_capacity(records.saturating_mul(cells).min(MAX_RESERVED_CELLS)),
            records: Vec::with_capacity(records),
        }
    }

    /// Keeps `record`, read at `line`.
    pub(crate) fn push(&mut self, record: &StringRecord, line: u64) {
        if self.records.is_empty() {
            // Rows of a file are alike in size: room for as many as the part expects,
            // with some slack, instead of doubling (up to twice the memory) as it fills.
            // Capped: a first row with a huge cell must not reserve that much per row.
            let expected = record.as_byte_record().as_slice().len() * self.records.capacity();
            self.text
                .reserve((expected + expected / 4).min(MAX_RESERVED));
        }
        self.records.push((self.cell_ends.len(), line));
        for cell in record {
            self.text.push_str(cell);
            self.cell_ends.push(self.text.len());
        }
    }

    /// Records kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is kept.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `index`th record and its line, rebuilt.
    pub(crate) fn get(&self, index: usize) -> Option<(StringRecord, u64)> {
        let &(first, line) = self.records.get(index)?;
        let last = self
            .records
            .get(index + 1)
            .map_or(self.cell_ends.len(), |&(next, _)| next);
        let cells = &self.cell_ends[first..last];
        let mut start = first
            .checked_sub(1)
            .map_or(0, |before| self.cell_ends[before]);
        let bytes = cells.last().map_or(0, |end| end - start);
        let mut record = StringRecord::with_capacity(bytes, cells.len());
        for &end in cells {
            record.push_field(&self.text[start..end]);
            start = end;
        }
        Some((record, line))
    }
}

#[cfg(test)]
mod tests {
    use super::SourceRecords;
    use csv::StringRecord;

    #[test]
    fn records_come_back_as_pushed() {
        let rows = [
            StringRecord::from(vec!["a", "", "ccc"]),
            StringRecord::new(),
            StringRecord::from(vec![""]),
            StringRecord::from(vec!["ünï", "x,y", "\"q\"", ""]),
        ];
        let mut sources = SourceRecords::with_capacity(2, 3);
        assert!(sources.is_empty());
        for (line, row) in rows.iter().enumerate() {
            sources.push(row, line as u64 + 2);
        }
        assert_eq!(sources.len(), rows.len());
        for (index, row) in rows.iter().enumerate() {
            let (record, line) = sources.get(index).expect("a record");
            assert_eq!(&record, row);
            assert_eq!(line, index as u64 + 2);
        }
        assert!(sources.get(rows.len()).is_none());
    }

    #[test]
    fn a_very_wide_header_does_not_reserve_its_width_for_every_row() {
        let sources = SourceRecords::with_capacity(2000, 100_000);
        assert!(sources.cell_ends.capacity() <= super::MAX_RESERVED_CELLS);
    }

    #[test]
    fn a_huge_first_record_does_not_reserve_its_size_for_every_row() {
        let huge = "x".repeat(1 << 20);
        let mut sources = SourceRecords::with_capacity(2000, 1);
        sources.push(&StringRecord::from(vec![huge.as_str()]), 2);
        assert!(sources.text.capacity() <= super::MAX_RESERVED + huge.len());
        assert_eq!(sources.get(0).unwrap().0.get(0), Some(huge.as_str()));
    }
}
