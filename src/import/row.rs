//! Reading the fields of one record while collecting every problem of the row.

use compact_str::CompactString;
use csv::StringRecord;

use super::{
    header::{ColumnMap, FieldSpec},
    values::{self, ValueError},
};
use crate::domain::{Problem, ProblemCode};

/// A text value of a row. Most cells (stages, owners, ids, types) fit in its 24 inline
/// bytes, so a row makes a few allocations instead of one per cell: allocating and
/// freeing them was a third of the worker's CPU time on new rows.
pub(crate) type Text = CompactString;

/// Reads fields of one record by their position in a kind's `FIELDS`.
pub(crate) struct RowReader<'a> {
    columns: &'a ColumnMap,
    record: &'a StringRecord,
    fields: &'static [FieldSpec],
    problems: Vec<Problem>,
}

impl<'a> RowReader<'a> {
    /// Starts reading `record`.
    pub(crate) fn new(
        columns: &'a ColumnMap,
        record: &'a StringRecord,
        fields: &'static [FieldSpec],
    ) -> Self {
        Self {
            columns,
            record,
            fields,
            problems: Vec::new(),
        }
    }

    /// The trimmed value, `None` when the column is absent or the cell empty.
    pub(crate) fn raw(&self, field: usize) -> Option<&'a str> {
        self.columns
            .get(field, self.record)
            .and_then(values::clean_text)
    }

    /// An optional text value.
    pub(crate) fn text<T: From<&'a str>>(&self, field: usize) -> Option<T> {
        self.raw(field).map(T::from)
    }

    /// The column's header name as the file writes it (the field's name when the file has
    /// no such column).
    fn column(&self, field: usize) -> String {
        self.columns
            .header_of(field)
            .unwrap_or(self.fields[field].name)
            .to_owned()
    }

    /// Records that a required value is empty.
    fn missing(&mut self, field: usize) {
        let value = self.columns.get(field, self.record).map(str::to_owned);
        self.problems.push(Problem {
            code: ProblemCode::RequiredMissing,
            column: Some(self.column(field)),
            value,
            message: format!("{} is empty", self.fields[field].name),
        });
    }

    /// A required text value; an empty one is a problem of the row.
    pub(crate) fn required<T: From<&'a str> + Default>(&mut self, field: usize) -> T {
        let value = self.text(field);
        if value.is_none() {
            self.missing(field);
        }
        value.unwrap_or_default()
    }

    /// An optional parsed value; a value that does not parse is a problem of the row.
    pub(crate) fn parsed<T>(
        &mut self,
        field: usize,
        parse: impl Fn(&'a str) -> Result<T, ValueError>,
    ) -> Option<T> {
        let raw = self.raw(field)?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(error) => {
                self.problems.push(Problem {
                    code: error.code,
                    column: Some(self.column(field)),
                    value: Some(raw.to_owned()),
                    message: error.message,
                });
                None
            }
        }
    }

    /// A required parsed value.
    pub(crate) fn required_parsed<T>(
        &mut self,
        field: usize,
        parse: impl Fn(&'a str) -> Result<T, ValueError>,
    ) -> Option<T> {
        if self.raw(field).is_none() {
            self.missing(field);
            return None;
        }
        self.parsed(field, parse)
    }

    /// The row, or every problem found while reading it.
    pub(crate) fn finish<T>(self, build: impl FnOnce() -> T) -> Result<T, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(build())
        } else {
            Err(self.problems)
        }
    }
}
