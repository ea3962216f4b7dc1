//! A job as the API describes it (`GET /api/v1/jobs/{id}`), read by the client.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::JobState;

/// The fields of a job the client uses, and the object as the API sent it (for `--json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// The job's id.
    pub id: Uuid,
    /// Its URL on the API (built from the API's `PUBLIC_URL`).
    pub url: String,
    /// `opportunities`, `contacts` or `sales_targets` (kept as text, so that a newer
    /// API's kinds still show).
    pub kind: String,
    /// Where it is in its life.
    pub state: JobState,
    /// While it is queued: how many queued jobs (of any tenant) are likely to start before
    /// it; `None` otherwise, and from an API that does not report it.
    #[serde(default)]
    pub jobs_ahead: Option<i64>,
    /// The uploaded file's name.
    pub file_name: String,
    /// The name given at upload (absent from an API that has no names).
    #[serde(default)]
    pub name: Option<String>,
    /// Rows read so far.
    pub rows_processed: i64,
    /// Bytes of the file behind `rows_processed` as a whole percentage (0 from an API
    /// that does not report it).
    #[serde(default)]
    pub progress_percent: u8,
    /// Rows in the file, once the job has ended.
    pub total_original_rows: Option<i64>,
    /// Rows imported, once the job has ended.
    pub total_imported_rows: Option<i64>,
    /// Rows that failed, once the job has ended.
    pub total_error_rows: Option<i64>,
    /// Imported rows that created a record, once the job has ended (absent from an API
    /// that does not report it).
    #[serde(default)]
    pub created_rows: Option<i64>,
    /// Imported rows that changed a stored record, once the job has ended.
    #[serde(default)]
    pub updated_rows: Option<i64>,
    /// Imported rows whose values were stored already, once the job has ended.
    #[serde(default)]
    pub unchanged_rows: Option<i64>,
    /// True for a check that stored nothing (`--validate-only`).
    #[serde(default)]
    pub dry_run: bool,
    /// URL of the error CSV, `""` when no row failed.
    pub error_file: String,
    /// Why the job failed, when it did.
    pub error: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The object exactly as received.
    #[serde(skip)]
    pub raw: Value,
}

impl Job {
    /// Reads a job object, keeping the original for `--json`.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        let mut job: Job = serde_json::from_value(value.clone())?;
        job.raw = value;
        Ok(job)
    }
}
