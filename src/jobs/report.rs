//! The error-report email of a finished job.

use crate::{db::jobs::JobRecord, domain::JobState, mail::Email};

/// Attachments larger than this are left out (mail servers refuse large messages);
/// the email then points at the download link instead.
pub(crate) const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Whether a finished job's uploader should get an email.
pub(crate) fn wanted(job: &JobRecord) -> bool {
    job.send_error_email
        && (job.state() == JobState::Failed
            || (job.state().is_terminal() && job.total_error_rows.unwrap_or(0) > 0))
}

/// Failed rows shown in the HTML part; the attachment has all of them.
const PREVIEW_ROWS: usize = 5;

/// Builds the report: plain text, the same as HTML (counts as a table, the first failed
/// rows with their line and reason, a link to the job on the dashboard), and the error
/// CSV attached. `error_csv` is the error file's content when it exists and fits.
pub(crate) fn build(
    job: &JobRecord,
    to: &str,
    public_base: &str,
    error_csv: Option<Vec<u8>>,
) -> Email {
    let error_file_url = crate::domain::error_file_url(public_base, job.id);
    let html = html(job, public_base, error_csv.as_deref());
    let mut body = String::new();
    let subject = match job
        .error
        .as_ref()
        .filter(|_| job.state() == JobState::Failed)
    {
        Some(reason) => {
            body.push_str(&format!(
                "Your import of \"{}\" failed: {reason}\n",
                job.file_name
            ));
            format!("Import of {} failed", job.file_name)
        }
        None => {
            let errors = job.total_error_rows.unwrap_or(0);
            body.push_str(&format!(
                "Your {} finished ({}).\n\n",
                what(job),
                job.state().as_str()
            ));
            for (label, value) in counts(job) {
                body.push_str(&format!(
                    "{:<20}{}\n",
                    format!("{label}:"),
                    value.unwrap_or(0)
                ));
            }
            if job.dry_run {
                body.push_str(DRY_RUN_NOTE);
                body.push('\n');
            }
            match job.reverts_job_id {
                Some(_) => format!(
                    "Undo of {}: {errors} row(s) changed since were left alone",
                    job.file_name.trim_start_matches("undo of ")
                ),
                None => format!(
                    "Import of {}: {errors} row(s) could not be imported",
                    job.file_name
                ),
            }
        }
    };
    body.push_str(&summary_text(job));
    if let Some(name) = &job.name {
        body.push_str(&format!("\nName: {name}"));
    }
    body.push_str(&format!(
        "\nJob: {}\nSee it on the dashboard (sign in with your API key): {}\n",
        job.id,
        crate::domain::dashboard_job_url(public_base, job.id)
    ));
    if crate::jobs::unprocessed::offered(job) {
        body.push_str(&format!(
            "\nThe rows it never got to (header + rows, as uploaded), ready to upload again: {}\n",
            crate::domain::unprocessed_file_url(public_base, job.id)
        ));
    }
    let attachment = match error_csv {
        Some(content) => {
            body.push_str(match job.reverts_job_id {
                Some(_) => {
                    "\nThe attached CSV lists each row changed since the import, with each value \
                     now beside the value the undo would have restored.\n"
                }
                None => {
                    "\nThe attached CSV lists each failed row with its line number and what was \
                     wrong; fix the rows and upload that file again.\n"
                }
            });
            Some((format!("errors-{}.csv", job.id), content))
        }
        None if job.total_error_rows.unwrap_or(0) > 0 => {
            body.push_str(&format!(
                "\nDownload the failed rows with your API key: {error_file_url}\n"
            ));
            None
        }
        None => None,
    };
    Email {
        to: to.to_owned(),
        subject,
        body,
        html: Some(html),
        attachment,
    }
}

/// What the job did, for the report's first sentence.
fn what(job: &JobRecord) -> String {
    match job.reverts_job_id {
        Some(reverted) => format!("undo of job {reverted} (\"{}\")", job.file_name),
        None => format!("import of \"{}\"", job.file_name),
    }
}

/// The counts the report shows: an import's, or a revert job's.
fn counts(job: &JobRecord) -> [(&'static str, Option<i64>); 6] {
    match job.reverts_job_id {
        Some(_) => [
            ("Rows looked at", job.total_original_rows),
            ("Rows undone", job.total_imported_rows),
            ("Changed since", job.total_error_rows),
            ("Deleted", job.deleted_rows),
            ("Restored", job.restored_rows),
            ("Conflicts", job.conflict_rows),
        ],
        None => [
            ("Rows in the file", job.total_original_rows),
            ("Rows imported", job.total_imported_rows),
            ("Rows with errors", job.total_error_rows),
            ("Created", job.created_rows),
            ("Updated", job.updated_rows),
            ("Unchanged", job.unchanged_rows),
        ],
    }
}

/// Said of a dry run (`validate_only`), in both parts.
const DRY_RUN_NOTE: &str = "This was a check only (validate_only): nothing was stored. The counts say what an \
     import of this file would do.";

/// The HTML part. Everything from the upload (file name, values, reasons) is escaped.
fn html(job: &JobRecord, public_base: &str, error_csv: Option<&[u8]>) -> String {
    use html_escape::encode_text as text;
    let file = text(&job.file_name);
    let dashboard_url = crate::domain::dashboard_job_url(public_base, job.id);
    let mut html =
        String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif;color:#222\">");
    match job
        .error
        .as_ref()
        .filter(|_| job.state() == JobState::Failed)
    {
        Some(reason) => html.push_str(&format!(
            "<h2>Your import of &ldquo;{file}&rdquo; failed</h2><p>{}</p>",
            text(reason)
        )),
        None => {
            html.push_str(&format!(
                "<h2>Your {} finished ({})</h2>",
                text(&what(job)),
                job.state().as_str()
            ));
            html.push_str("<table cellpadding=\"4\" style=\"border-collapse:collapse\">");
            for (label, value) in counts(job) {
                html.push_str(&format!(
                    "<tr><th align=\"left\">{label}</th><td align=\"right\">{}</td></tr>",
                    value.unwrap_or(0)
                ));
            }
            html.push_str("</table>");
            if job.dry_run {
                html.push_str(&format!("<p>{DRY_RUN_NOTE}</p>"));
            }
        }
    }
    html.push_str(&summary_html(job));
    let preview = error_csv.map(failed_rows).unwrap_or_default();
    if !preview.is_empty() {
        html.push_str("<h3>First failed rows</h3><table cellpadding=\"4\" border=\"1\" style=\"border-collapse:collapse\"><tr><th>Line</th><th>Error</th></tr>");
        for (line, reason) in &preview {
            html.push_str(&format!(
                "<tr><td align=\"right\">{}</td><td>{}</td></tr>",
                text(line),
                text(reason)
            ));
        }
        html.push_str("</table><p>The attached CSV lists every failed row; fix them and upload that file again.</p>");
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">See the job on the dashboard</a> (sign in with your API key)</p></body></html>",
        html_escape::encode_double_quoted_attribute(&dashboard_url)
    ));
    html
}

/// One line per problem code and column of `error_summary`: "412 rows: invalid_date in
/// Close Date".
fn summary_lines(job: &JobRecord) -> Vec<String> {
    job.error_summary
        .0
        .iter()
        .map(|entry| {
            let rows = if entry.rows == 1 { "row" } else { "rows" };
            match &entry.column {
                Some(column) => format!("{} {rows}: {} in {column}", entry.rows, entry.code),
                None => format!("{} {rows}: {}", entry.rows, entry.code),
            }
        })
        .collect()
}

/// The plain-text block of the summary (empty without failed rows).
fn summary_text(job: &JobRecord) -> String {
    let lines = summary_lines(job);
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nProblems found:\n");
    for line in lines {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// The HTML block of the summary, escaped (column names come from the upload).
fn summary_html(job: &JobRecord) -> String {
    let lines = summary_lines(job);
    if lines.is_empty() {
        return String::new();
    }
    let items: String = lines
        .iter()
        .map(|line| format!("<li>{}</li>", html_escape::encode_text(line)))
        .collect();
    format!("<h3>Problems found</h3><ul>{items}</ul>")
}

/// The `Line` and `Error` of the first failed rows of an error CSV.
fn failed_rows(error_csv: &[u8]) -> Vec<(String, String)> {
    let content = error_csv
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(error_csv);
    let mut reader = csv::Reader::from_reader(content);
    let Ok(header) = reader.headers().cloned() else {
        return Vec::new();
    };
    // `Line` and `Error` follow the upload's own columns, which may use those names too.
    let names: Vec<&str> = header.iter().collect();
    let (Some(line), Some(error)) = (
        names.iter().rposition(|h| *h == "Line"),
        names.iter().rposition(|h| *h == "Error"),
    ) else {
        return Vec::new();
    };
    reader
        .records()
        .map_while(Result::ok)
        .take(PREVIEW_ROWS)
        .map(|row| {
            (
                row.get(line).unwrap_or_default().to_owned(),
                row.get(error).unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::failed_rows;

    #[test]
    fn the_preview_reads_line_and_error_after_the_uploads_own_columns() {
        let csv =
            "\u{feff}Error,Line,Name,Line,Error\nx,y,A,3,Amount is bad\nx,y,B,7,Name is missing\n";
        assert_eq!(
            failed_rows(csv.as_bytes()),
            [
                ("3".to_owned(), "Amount is bad".to_owned()),
                ("7".to_owned(), "Name is missing".to_owned())
            ]
        );
        assert!(failed_rows(b"not,an,error,file\n1,2,3,4\n").is_empty());
    }
}
