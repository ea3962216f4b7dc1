//! `batch-import fix JOB_ID FILE.errors.csv`: send the failed rows of a job again, as the
//! user corrected them in its error CSV (`POST /api/v1/jobs/{id}/corrections`), and
//! follow the correction like an upload.

use std::{io::Read, path::Path, process::ExitCode};

use serde_json::{Map, Value, json};

use super::{
    ApiClient, ClientError, FixArgs,
    output::Mode,
    upload::{error_csv_path, follow_to_the_end},
};

/// The largest error CSV read: the API takes at most 2 MB of corrections a request, and
/// the file carries each row's error messages besides.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The column of the error CSV that names each row's line.
const LINE: &str = "Line";

/// Runs `fix`; the exit code says how the correction ended (see [`super::exit_code`]).
pub async fn fix(args: FixArgs) -> Result<ExitCode, ClientError> {
    let client = ApiClient::new(&args.server)?;
    let text = read_bounded(&args.file)?;
    let rows = corrected_rows(&text).map_err(|detail| ClientError::File {
        action: "could not use",
        path: args.file.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    })?;
    let mode = Mode::detect(args.json);
    let count = rows.len();
    let job = client.correct(args.id, &json!({ "rows": rows })).await?;
    if mode == Mode::Plain {
        eprintln!(
            "sent {count} corrected rows of job {} as job {}",
            args.id, job.id
        );
    }
    follow_to_the_end(&client, job, mode, &error_csv_path(&args.file)).await
}

/// The file as text, refused beyond [`MAX_FILE_BYTES`]; a leading BOM (the error CSV has
/// one) is dropped.
fn read_bounded(path: &Path) -> Result<String, ClientError> {
    let read_error = |source| ClientError::File {
        action: "could not read",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is over {} MB; correct fewer rows at a time",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file is not UTF-8 text (save it as CSV UTF-8)",
        ))
    })?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text))
}

/// The rows of an edited error CSV as the API takes them: `line` from the (last) `Line`
/// column, `values` from every column before it under its header name; the columns after
/// it (`Error`) are ignored, and so are fully blank rows. The `'` the error CSV puts before
/// a cell that a spreadsheet would run as a formula is taken off again.
fn corrected_rows(text: &str) -> Result<Vec<Value>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("its header cannot be read: {e}"))?
        .clone();
    let names: Vec<&str> = header.iter().collect();
    let Some(line_at) = names.iter().rposition(|name| name.trim() == LINE) else {
        return Err(format!(
            "it has no {LINE} column: give the job's error CSV, with the cells corrected"
        ));
    };
    let columns: Vec<String> = names
        .iter()
        .take(line_at)
        .map(|name| restore(name).to_owned())
        .collect();
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {} cannot be read: {e}", index + 2))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let raw_line = record.get(line_at).unwrap_or("").trim();
        let line: i64 = raw_line.parse().map_err(|_| {
            format!(
                "row {}: {LINE} {raw_line:?} is not a line number (keep the {LINE} column as it was)",
                index + 2
            )
        })?;
        let values: Map<String, Value> = columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let cell = restore(record.get(i).unwrap_or(""));
                (column.clone(), Value::String(cell.to_owned()))
            })
            .collect();
        rows.push(json!({ "line": line, "values": values }));
    }
    if rows.is_empty() {
        return Err("it has no rows to correct".into());
    }
    Ok(rows)
}

/// A cell as uploaded, from the error CSV: without the `'` put before a leading `=`, `+`,
/// `-`, `@`, tab or carriage return so that no spreadsheet runs it as a formula.
fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_the_line_column_and_the_columns_before_it() {
        let csv = "Opportunity ID,'=Amount,Line,Error\n\
                   O-1,'=80000,12,Amount is not a number\n\
                   ,,,\n\
                   O-2,-5,14,whatever\n";
        let rows = corrected_rows(csv).unwrap();
        assert_eq!(
            Value::Array(rows),
            json!([
                {"line": 12, "values": {"Opportunity ID": "O-1", "=Amount": "=80000"}},
                {"line": 14, "values": {"Opportunity ID": "O-2", "=Amount": "-5"}},
            ])
        );
    }

    #[test]
    fn a_file_without_lines_is_refused_with_a_reason() {
        assert!(corrected_rows("a,b\n1,2\n").unwrap_err().contains("Line"));
        let error = corrected_rows("a,Line,Error\n1,twelve,x\n").unwrap_err();
        assert!(error.contains("\"twelve\""), "{error}");
        assert!(corrected_rows("a,Line,Error\n").is_err());
    }
}
