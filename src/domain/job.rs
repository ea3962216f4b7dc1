use serde::{Deserialize, Serialize};

/// A value read from text that is not one of the known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// What a job imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Opportunities, keyed by the tenant's external Opportunity ID.
    Opportunities,
    /// Contacts, keyed by email.
    Contacts,
    /// Sales targets, keyed by rep email and month.
    SalesTargets,
}

impl JobKind {
    /// Every kind, e.g. to report a zero for those without jobs.
    pub(crate) const ALL: [JobKind; 3] = [Self::Opportunities, Self::Contacts, Self::SalesTargets];

    /// The name used in URLs, the database and JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Opportunities => "opportunities",
            Self::Contacts => "contacts",
            Self::SalesTargets => "sales_targets",
        }
    }
}

impl std::str::FromStr for JobKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opportunities" => Ok(Self::Opportunities),
            "contacts" => Ok(Self::Contacts),
            "sales_targets" => Ok(Self::SalesTargets),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// Where a job is in its life. `completed`, `failed` and `cancelled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Stored and enqueued, not yet picked up by a worker.
    Queued,
    /// A worker is importing it.
    Running,
    /// Every row was read; the counts say how many imported and how many failed.
    Completed,
    /// The file could not be imported; `error` says why.
    Failed,
    /// Stopped on request; rows committed before that stay.
    Cancelled,
}

impl JobState {
    /// Every state, e.g. to report a zero for those without jobs.
    pub(crate) const ALL: [JobState; 5] = [
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The name used in the database and JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// True once the job will not change any more.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// True for the ends that leave rows of the file unread (cancelled or failed): those
    /// jobs offer their unprocessed rows.
    pub(crate) fn leaves_rows_unprocessed(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled)
    }
}

impl std::str::FromStr for JobState {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// The public URL of a job.
pub fn job_url(public_base: &str, id: uuid::Uuid) -> String {
    format!("{public_base}/api/v1/jobs/{id}")
}

/// The job on the dashboard (the page the API serves at `/`), for people: the fragment
/// opens the job once the reader signs in, and never reaches a server log.
pub fn dashboard_job_url(public_base: &str, id: uuid::Uuid) -> String {
    format!("{public_base}/#job={id}")
}

/// The public URL of a job's error CSV.
pub fn error_file_url(public_base: &str, id: uuid::Uuid) -> String {
    format!("{}/errors.csv", job_url(public_base, id))
}

/// The public URL of the rows a cancelled or failed job never got to.
pub fn unprocessed_file_url(public_base: &str, id: uuid::Uuid) -> String {
    format!("{}/unprocessed.csv", job_url(public_base, id))
}

/// The counts of one complete run. `created_rows + updated_rows + unchanged_rows`
/// equals `total_imported_rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub total_original_rows: i64,
    pub total_imported_rows: i64,
    pub total_error_rows: i64,
    /// Imported rows that were new.
    pub created_rows: i64,
    /// Imported rows that changed a stored row.
    pub updated_rows: i64,
    /// Imported rows whose values were all stored already.
    pub unchanged_rows: i64,
    /// A revert job's rows deleted: created by the job it undoes (0 for other jobs).
    pub deleted_rows: i64,
    /// A revert job's rows set back to their values before the job it undoes.
    pub restored_rows: i64,
    /// A revert job's rows left alone because they changed since (its failed rows).
    pub conflict_rows: i64,
}
