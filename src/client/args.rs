//! The command-line arguments of the client commands (`upload`, `fix`, `revert`, `jobs`,
//! `job`).

use std::path::PathBuf;

use clap::Args;
use uuid::Uuid;

use crate::domain::{JobKind, JobState};

/// The API's address when neither `--url` nor `BATCH_IMPORT_URL` is given: the listen
/// port of `config/default.toml` and of `docker-compose.yml`.
pub const DEFAULT_URL: &str = "http://localhost:8080";

/// Where the API is and which key to use; shared by every client command.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The API's base URL (http or https).
    #[arg(long, env = "BATCH_IMPORT_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// The API key, sent as the Authorization header.
    #[arg(long, env = "BATCH_IMPORT_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// `batch-import upload`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Exit codes:
  0  every row was imported
  2  the job completed but some rows failed; they are saved next to FILE as FILE.errors.csv
  1  the job failed or was cancelled, or any other error (the API's message is on stderr)
  With --no-wait: 0 once the API has accepted the upload.

Examples:
  export BATCH_IMPORT_KEY=<admin key>
  batch-import upload --kind opportunities opps.csv
  batch-import upload --kind contacts --send-error-email contacts.csv
  batch-import upload --kind opportunities --mapping '{\"Deal\":\"Opportunity Name\"}' deals.csv
  batch-import upload --kind opportunities --name 'Q3 pipeline' opps.csv
  batch-import upload --kind sales_targets --no-wait targets.csv
  batch-import upload --kind contacts --validate-only contacts.csv")]
pub struct UploadArgs {
    /// What the file holds: opportunities, contacts or sales_targets.
    #[arg(long)]
    pub kind: JobKind,
    /// The file: a CSV, or an Excel or OpenDocument workbook (.xlsx, .xlsm, .xls, .ods).
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// The sheet of a workbook to import: a name or a 1-based number (default: the first
    /// visible sheet).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Email the uploader the counts and the error CSV when rows fail.
    #[arg(long)]
    pub send_error_email: bool,
    /// JSON object mapping the file's column names to supported fields.
    #[arg(long)]
    pub mapping: Option<String>,
    /// A name for the job (at most 200 characters), to find it with `jobs --name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Check the file and count what the import would do (created, updated, unchanged,
    /// failed rows), storing nothing; the exit code is the same as a real import's.
    #[arg(long)]
    pub validate_only: bool,
    /// Print the job's id and URL once the upload is accepted; do not follow it.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the job as JSON (the API's object) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `batch-import jobs`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  batch-import jobs
  batch-import jobs --kind contacts --state failed
  batch-import jobs --name 'Q3 pipeline'
  batch-import jobs --state completed --json")]
pub struct JobsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only jobs of this kind: opportunities, contacts or sales_targets.
    #[arg(long)]
    pub kind: Option<JobKind>,
    /// Only jobs in this state: queued, running, completed, failed or cancelled.
    #[arg(long)]
    pub state: Option<JobState>,
    /// Only jobs with exactly this name (as given at upload).
    #[arg(long)]
    pub name: Option<String>,
    /// At most this many jobs, newest first (1–1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the list as JSON (the API's objects) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `batch-import job`.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// The job's id (as `upload` and `jobs` print it).
    pub id: Uuid,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the job as JSON (the API's object) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `batch-import fix`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
FILE is the job's error CSV (as `upload` saves it, or GET /api/v1/jobs/ID/errors.csv)
with the cells corrected: its Line column names each failed row, the columns before it
are the file's own, the Error column is ignored. Remove the rows you do not correct.

Exit codes (as `upload`):
  0  every corrected row was imported
  2  some rows still fail; they are saved as FILE.errors.csv, to fix again with the
     correction's job id
  1  the job failed, or any other error (the API's message is on stderr)

Examples:
  batch-import fix 0b5c…-… opps.csv.errors.csv
  batch-import fix --json 0b5c…-… opps.csv.errors.csv")]
pub struct FixArgs {
    /// The job whose failed rows are corrected.
    pub id: Uuid,
    /// The edited error CSV (at most 4 MB).
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the job as JSON (the API's object) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `batch-import revert`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Rows the job created are deleted, rows it updated get their previous values back. A row
changed since by another job or a correction is a conflict: it is left alone and listed
as a failed row (problem code changed_since), saved as --errors.

Exit codes (as `upload`):
  0  the job was reverted (or, with --dry-run, would be) without conflicts
  2  some rows were changed since and left alone; they are saved as --errors
  1  the revert was refused (already reverted, a revert itself, a dry run, not ended,
     its kept values purged), the revert job failed or was cancelled, or any other
     error (the API's message is on stderr)

Examples:
  batch-import revert --dry-run 0b5c…-…
  batch-import revert 0b5c…-…
  batch-import revert --json 0b5c…-…")]
pub struct RevertArgs {
    /// The job to undo (as `upload` and `jobs` print it).
    pub id: Uuid,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Count what the revert would delete, restore and leave alone, changing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to save the rows left alone because they changed since (default:
    /// revert-ID.errors.csv in the current directory).
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// Print the job as JSON (the API's object) instead of text.
    #[arg(long)]
    pub json: bool,
}
