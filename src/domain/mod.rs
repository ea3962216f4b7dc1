//! Typed domain values shared by the API, the workers and the import engine.

mod api_key;
mod job;
mod job_name;
mod problem;
mod tenant_slug;

pub use api_key::{ApiKey, KeyRole, parse_expiry};
pub use job::{
    ImportCounts, JobKind, JobState, UnknownValue, dashboard_job_url, error_file_url, job_url,
    unprocessed_file_url,
};
pub(crate) use job_name::JobName;
pub use problem::{ErrorSummaryEntry, ErrorTally, KnownProblemCode, Problem, ProblemCode};
pub use tenant_slug::TenantSlug;
