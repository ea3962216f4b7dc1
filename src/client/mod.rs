//! The command-line client: `upload` a CSV to a running API and follow its job, list
//! `jobs`, show one `job`, `fix` a job's failed rows from its edited error CSV, `revert`
//! (undo) a job. It speaks only HTTP to the API, so it works against any
//! deployment (`--url`, `BATCH_IMPORT_URL`) with an API key (`--key`, `BATCH_IMPORT_KEY`).
//!
//! Exit codes of `upload` (and `fix`, `revert`): [`EXIT_IMPORTED`] when every row imported, [`EXIT_ROWS_FAILED`]
//! when some rows failed, 1 when the job failed or was cancelled or on any error.

mod args;
mod fix;
mod follow;
mod http;
mod output;
mod progress;
mod revert;
mod upload;

use std::{path::PathBuf, process::ExitCode};

/// A job as the API shows it: the API's own view, read back.
pub(crate) use crate::views::JobView as Job;
pub use args::{DEFAULT_URL, FixArgs, JobArgs, JobsArgs, RevertArgs, ServerArgs, UploadArgs};
pub use fix::fix;
pub(crate) use http::{ApiClient, JobFilter};
pub use revert::revert;
pub use upload::upload;

use output::Mode;

/// Exit code of `upload` when every row was imported.
pub(crate) const EXIT_IMPORTED: u8 = 0;
/// Exit code of `upload` when the job completed but some rows failed.
pub(crate) const EXIT_ROWS_FAILED: u8 = 2;
/// Exit code when the job failed or was cancelled, or on any error.
pub const EXIT_FAILED: u8 = 1;

/// Everything the client can fail with; the message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither `--key` nor `BATCH_IMPORT_KEY`.
    #[error("no API key: pass --key or set BATCH_IMPORT_KEY")]
    MissingKey,
    /// The key cannot be sent as a header (control characters, non-ASCII).
    #[error("the API key contains characters that cannot be sent in a header")]
    InvalidKey,
    /// `--url` is not an http(s) URL.
    #[error("{url:?} is not an http:// or https:// URL")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// `--mapping` is not a JSON object of strings.
    #[error("--mapping must be a JSON object from column names to fields: {0}")]
    InvalidMapping(#[source] serde_json::Error),
    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    File {
        /// What was being done: "could not read", "could not write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request did not get an answer (connection refused, TLS, timeout, body cut).
    #[error("the request to the API failed")]
    Request {
        /// The request's URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The API refused the request; `message` is its JSend message.
    #[error("{message} (HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The message of the JSend body (or the status' reason when there is none).
        message: String,
    },
    /// The API answered something this client does not understand.
    #[error("unexpected answer from {url}: {detail}")]
    Unexpected {
        /// The request's URL.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Ctrl-C while following: the job goes on without the client.
    #[error("interrupted; job {id} goes on: follow it with `batch-import job {id}`")]
    Interrupted {
        /// The job.
        id: uuid::Uuid,
    },
    /// The job could not be read for too long while following it.
    #[error("lost track of job {id}; follow it with `batch-import job {id}`")]
    FollowLost {
        /// The job.
        id: uuid::Uuid,
        /// The last failure.
        #[source]
        source: Box<ClientError>,
    },
}

impl ClientError {
    /// Whether trying again later may succeed: no answer, a server error, or a rate limit.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Request { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The exit code of `upload` for the job's final state.
pub(crate) fn exit_code(job: &Job) -> u8 {
    use crate::domain::JobState;
    match job.state {
        JobState::Completed if job.total_error_rows.unwrap_or(0) == 0 => EXIT_IMPORTED,
        JobState::Completed => EXIT_ROWS_FAILED,
        _ => EXIT_FAILED,
    }
}

/// `batch-import jobs`: the tenant's jobs as a table, or as JSON.
pub async fn jobs(args: JobsArgs) -> Result<ExitCode, ClientError> {
    let client = ApiClient::new(&args.server)?;
    let filter = JobFilter {
        kind: args.kind,
        state: args.state,
        name: args.name,
        limit: args.limit,
    };
    let jobs = client.jobs(&filter).await?;
    match Mode::detect(args.json) {
        Mode::Json => output::print_json(&jobs),
        _ => print!("{}", output::job_table(&jobs)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `batch-import job ID`: one job, as text or JSON.
pub async fn job(args: JobArgs) -> Result<ExitCode, ClientError> {
    let client = ApiClient::new(&args.server)?;
    let job = client.job(args.id).await?;
    match Mode::detect(args.json) {
        Mode::Json => output::print_json(&job),
        _ => print!("{}", output::job_details(&job)),
    }
    Ok(ExitCode::SUCCESS)
}
