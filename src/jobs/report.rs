//! The error-report email of a finished job.

use crate::{db::jobs::JobRecord, domain::JobState, mail::Email};

/// Attachments larger than this are left out (mail servers refuse large messages);
/// the email then points at the download link instead.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Whether a finished job's uploader should get an email.
pub fn wanted(job: &JobRecord) -> bool {
    job.send_error_email
        && (job.state() == JobState::Failed
            || (job.state().is_terminal() && job.total_error_rows.unwrap_or(0) > 0))
}

/// Builds the report. `error_csv` is the error file's content when it exists and fits.
pub fn build(job: &JobRecord, to: &str, error_file_url: &str, error_csv: Option<Vec<u8>>) -> Email {
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
                "Your import of \"{}\" finished ({}).\n\n\
                 Rows in the file:   {}\nRows imported:      {}\nRows with errors:   {}\n",
                job.file_name,
                job.state().as_str(),
                job.total_original_rows.unwrap_or(0),
                job.total_imported_rows.unwrap_or(0),
                errors,
            ));
            format!(
                "Import of {}: {errors} row(s) could not be imported",
                job.file_name
            )
        }
    };
    body.push_str(&format!("\nJob: {}\n", job.id));
    let attachment = match error_csv {
        Some(content) => {
            body.push_str(
                "\nThe attached CSV lists each failed row with its line number and what was wrong; \
                 fix the rows and upload that file again.\n",
            );
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
        attachment,
    }
}
