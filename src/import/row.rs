//! Reading the fields of one record while collecting every problem of the row.

use csv::StringRecord;

use super::{
    header::{ColumnMap, FieldSpec},
    values,
};

/// Reads fields of one record by their position in a kind's `FIELDS`.
pub struct RowReader<'a> {
    columns: &'a ColumnMap,
    record: &'a StringRecord,
    fields: &'static [FieldSpec],
    problems: Vec<String>,
}

impl<'a> RowReader<'a> {
    /// Starts reading `record`.
    pub fn new(
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
    pub fn raw(&self, field: usize) -> Option<&'a str> {
        self.columns
            .get(field, self.record)
            .and_then(values::clean_text)
    }

    /// An optional text value.
    pub fn text(&self, field: usize) -> Option<String> {
        self.raw(field).map(str::to_owned)
    }

    /// A required text value; an empty one is a problem of the row.
    pub fn required(&mut self, field: usize) -> String {
        let value = self.text(field);
        if value.is_none() {
            self.problems
                .push(format!("{} is empty", self.fields[field].name));
        }
        value.unwrap_or_default()
    }

    /// An optional parsed value; a value that does not parse is a problem of the row.
    pub fn parsed<T>(
        &mut self,
        field: usize,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(field)?;
        parse(raw)
            .map_err(|problem| self.problems.push(problem))
            .ok()
    }

    /// A required parsed value.
    pub fn required_parsed<T>(
        &mut self,
        field: usize,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        if self.raw(field).is_none() {
            self.problems
                .push(format!("{} is empty", self.fields[field].name));
            return None;
        }
        self.parsed(field, parse)
    }

    /// The row, or every problem found while reading it.
    pub fn finish<T>(self, build: impl FnOnce() -> T) -> Result<T, Vec<String>> {
        if self.problems.is_empty() {
            Ok(build())
        } else {
            Err(self.problems)
        }
    }

    /// True when a problem was found so far.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}
