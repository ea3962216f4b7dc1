//! What one file may cost the worker that reads it, whatever its size says: caps on the
//! header's width, on one field and on one row, and on the bytes one chunk holds.
//!
//! A 20 MB upload can be made to cost far more than 20 MB (two million columns, one field
//! of twenty megabytes, rows of thousands of fields, each copied for the error file); these
//! bounds keep the worker inside its memory budget (docs/limits.md has the measurements).
//! A header over a cap fails the job; a row over a cap fails that row (`too_long`) and the
//! import goes on.

use csv::StringRecord;

use crate::domain::{Problem, ProblemCode};

/// The widest header read: Excel's own limit (column XFD).
pub(crate) const MAX_COLUMNS: usize = 16_384;

/// The longest field, in bytes of UTF-8: Salesforce's long text area holds 131,072
/// characters, and no supported field needs more.
pub(crate) const MAX_FIELD_BYTES: usize = 131_072;

/// The longest row, in bytes of UTF-8 (its fields and the delimiters between them).
pub(crate) const MAX_RECORD_BYTES: usize = 1_048_576;

/// A chunk is handed to the writers once its records hold this many bytes, however few
/// rows it has: a chunk of wide or long rows must not hold thousands of them.
pub(crate) const MAX_CHUNK_BYTES: usize = 8 * 1_048_576;

/// Values beyond the header's width stored for one failed row (`extra_values`); the
/// error CSV has them all.
pub(crate) const MAX_STORED_EXTRA_VALUES: usize = 100;

/// What a record costs in memory while it waits in a chunk: its text and its field ends.
pub(crate) fn record_cost(record: &StringRecord) -> usize {
    record.as_byte_record().as_slice().len() + record.len() * 2 * std::mem::size_of::<usize>()
}

/// The header's width, refused when over [`MAX_COLUMNS`].
pub(crate) fn check_header(header: &StringRecord) -> Result<(), String> {
    if header.len() > MAX_COLUMNS {
        return Err(format!(
            "the header line has {} columns; a file may have at most {MAX_COLUMNS} \
             (Excel's limit)",
            header.len()
        ));
    }
    Ok(())
}

/// A row over [`MAX_RECORD_BYTES`], or with a field over [`MAX_FIELD_BYTES`] (the first
/// such field, named by its header cell), is a `too_long` problem.
pub(crate) fn check_row(record: &StringRecord, header: &[String]) -> Result<(), Problem> {
    // The fields' text and one delimiter between each two: about the row's length in the
    // file (quotes aside).
    let bytes = record.as_byte_record().as_slice().len() + record.len().saturating_sub(1);
    if bytes <= MAX_FIELD_BYTES {
        return Ok(());
    }
    // The field first: "Notes holds 5 MB" tells the user more than "the row is too long".
    if let Some((i, field)) = record
        .iter()
        .enumerate()
        .find(|(_, field)| field.len() > MAX_FIELD_BYTES)
    {
        let column = header.get(i).cloned();
        let message = format!(
            "the field {} holds {} bytes; a field may hold at most {MAX_FIELD_BYTES}",
            column.as_deref().map_or_else(
                || format!("in column {}", i + 1),
                |name| format!("\"{name}\"")
            ),
            field.len()
        );
        return Err(Problem {
            code: ProblemCode::TooLong,
            column,
            value: None,
            message,
        });
    }
    if bytes > MAX_RECORD_BYTES {
        return Err(Problem::of_row(
            ProblemCode::TooLong,
            format!("the row holds {bytes} bytes; a row may hold at most {MAX_RECORD_BYTES}"),
        ));
    }
    Ok(())
}

/// A value of a failed row as stored for `GET /jobs/{id}/errors`: cut after
/// [`MAX_FIELD_BYTES`] (at a character boundary, ending in `…`), so that a too-long field
/// is not stored and served whole; the error CSV keeps it as it was.
pub(crate) fn stored_value(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_FIELD_BYTES {
        return value.into();
    }
    let mut end = MAX_FIELD_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_header_wider_than_excel_is_refused_with_its_width() {
        let wide = StringRecord::from(vec!["c"; MAX_COLUMNS + 1]);
        let message = check_header(&wide).unwrap_err();
        assert!(message.contains("16385 columns"), "{message}");
        assert!(message.contains("at most 16384"), "{message}");
        assert!(check_header(&StringRecord::from(vec!["c"; MAX_COLUMNS])).is_ok());
    }

    #[test]
    fn a_long_field_fails_its_row_naming_the_column() {
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let record = StringRecord::from(vec!["OPP-1", long.as_str()]);
        let problem = check_row(&record, &header(&["Opportunity ID", "Notes"])).unwrap_err();
        assert_eq!(problem.code, ProblemCode::TooLong);
        assert_eq!(problem.column.as_deref(), Some("Notes"));
        assert_eq!(
            problem.value, None,
            "the value is not copied into the problem"
        );
        assert!(problem.message.contains("\"Notes\" holds 131073 bytes"));
        let fits = "x".repeat(MAX_FIELD_BYTES);
        let record = StringRecord::from(vec!["OPP-1", fits.as_str()]);
        assert!(check_row(&record, &header(&["Opportunity ID", "Notes"])).is_ok());
    }

    #[test]
    fn a_field_beyond_the_header_is_named_by_its_position() {
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        let record = StringRecord::from(vec!["OPP-1", "", long.as_str()]);
        let problem = check_row(&record, &header(&["Opportunity ID"])).unwrap_err();
        assert_eq!(problem.column, None);
        assert!(
            problem.message.contains("in column 3"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_long_row_of_short_fields_fails_as_a_row() {
        let fields = vec!["012345678"; MAX_RECORD_BYTES / 10 + 1];
        let problem = check_row(&StringRecord::from(fields), &[]).unwrap_err();
        assert_eq!((problem.code, problem.column), (ProblemCode::TooLong, None));
        assert!(
            problem.message.starts_with("the row holds"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn stored_values_are_cut_at_a_character_boundary() {
        assert_eq!(stored_value("short"), "short");
        let long = "é".repeat(MAX_FIELD_BYTES); // two bytes each
        let cut = stored_value(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= MAX_FIELD_BYTES + '…'.len_utf8());
    }

    #[test]
    fn the_cost_counts_text_and_field_ends() {
        let record = StringRecord::from(vec!["ab", "c"]);
        assert_eq!(
            record_cost(&record),
            3 + 2 * 2 * std::mem::size_of::<usize>()
        );
    }
}
