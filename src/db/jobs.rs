//! Import jobs: the source of truth for polling. Every state change is one statement
//! guarded by the state it expects, so a late or duplicate delivery cannot undo a result.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

use crate::domain::{JobKind, JobState};

/// Column mapping given at upload: file header → supported field.
pub type ColumnMapping = std::collections::HashMap<String, String>;

/// One row of `import_jobs`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: JobKindColumn,
    #[sqlx(try_from = "String")]
    pub state: JobStateColumn,
    pub file_name: String,
    pub file_size: i64,
    pub column_mapping: Option<Json<ColumnMapping>>,
    pub send_error_email: bool,
    pub rows_processed: i64,
    pub total_original_rows: Option<i64>,
    pub total_imported_rows: Option<i64>,
    pub total_error_rows: Option<i64>,
    pub error: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub email_sent_at: Option<DateTime<Utc>>,
    pub email_error: Option<String>,
}

/// `kind` as read from its text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobKindColumn(pub JobKind);
impl TryFrom<String> for JobKindColumn {
    type Error = crate::domain::UnknownValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map(Self)
    }
}

/// `state` as read from its text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStateColumn(pub JobState);
impl TryFrom<String> for JobStateColumn {
    type Error = crate::domain::UnknownValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map(Self)
    }
}

impl JobRecord {
    /// The job's kind.
    pub fn kind(&self) -> JobKind {
        self.kind.0
    }
    /// The job's state.
    pub fn state(&self) -> JobState {
        self.state.0
    }
}

/// What an upload creates.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub kind: JobKind,
    pub file_name: String,
    pub file_size: i64,
    pub column_mapping: Option<ColumnMapping>,
    pub send_error_email: bool,
    /// The upload's `Idempotency-Key` header, unique per tenant (see `jobs::idempotency`).
    pub idempotency_key: Option<String>,
    /// SHA-256 of the uploaded bytes, compared when an idempotency key comes again.
    pub file_sha256: Option<Vec<u8>>,
}

/// The counts of one complete run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub total_original_rows: i64,
    pub total_imported_rows: i64,
    pub total_error_rows: i64,
}

const COLUMNS: &str = "id, tenant_id, user_id, kind, state, file_name, file_size, column_mapping,
    send_error_email, rows_processed, total_original_rows, total_imported_rows, total_error_rows,
    error, attempts, created_at, started_at, finished_at, cancel_requested_at, email_sent_at,
    email_error";

/// Inserts a queued job.
pub async fn insert(pool: &PgPool, job: &NewJob) -> Result<JobRecord, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO import_jobs (id, tenant_id, user_id, kind, file_name, file_size,
                                  column_mapping, send_error_email, idempotency_key, file_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {COLUMNS}"
    ))
    .bind(job.id)
    .bind(job.tenant_id)
    .bind(job.user_id)
    .bind(job.kind.as_str())
    .bind(&job.file_name)
    .bind(job.file_size)
    .bind(job.column_mapping.as_ref().map(Json))
    .bind(job.send_error_email)
    .bind(&job.idempotency_key)
    .bind(&job.file_sha256)
    .fetch_one(pool)
    .await
}

/// A job by id, whoever owns it (workers).
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM import_jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A job by id, only when it belongs to `tenant_id` (API).
pub async fn get_for_tenant(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM import_jobs WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
}

/// Starts (or, after a crashed worker, restarts) a run: progress and counts start
/// from zero so that the final counts are those of one complete run. Returns `None`
/// when the job is already terminal.
pub async fn start_run(pool: &PgPool, id: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE import_jobs
            SET state = 'running', started_at = now(), rows_processed = 0,
                total_original_rows = NULL, total_imported_rows = NULL, total_error_rows = NULL,
                error = NULL, attempts = attempts + 1
          WHERE id = $1 AND state IN ('queued', 'running')
      RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Records progress after a chunk; returns true when a cancel has been requested.
pub async fn record_progress(pool: &PgPool, id: Uuid, rows: i64) -> Result<bool, sqlx::Error> {
    let cancel: Option<bool> = sqlx::query_scalar(
        "UPDATE import_jobs SET rows_processed = $2
          WHERE id = $1 AND state = 'running'
      RETURNING cancel_requested_at IS NOT NULL",
    )
    .bind(id)
    .bind(rows)
    .fetch_optional(pool)
    .await?;
    Ok(cancel.unwrap_or(false))
}

/// Ends a run with its counts.
pub async fn finish(
    pool: &PgPool,
    id: Uuid,
    state: JobState,
    counts: ImportCounts,
    error: Option<&str>,
) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE import_jobs
            SET state = $2, finished_at = now(), error = $3,
                rows_processed = GREATEST(rows_processed, $4),
                total_original_rows = $4, total_imported_rows = $5, total_error_rows = $6
          WHERE id = $1 AND state IN ('queued', 'running')
      RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(state.as_str())
    .bind(error)
    .bind(counts.total_original_rows)
    .bind(counts.total_imported_rows)
    .bind(counts.total_error_rows)
    .fetch_optional(pool)
    .await
}

/// Fails a job that never produced counts (bad file, enqueue failure, attempts used up).
pub async fn fail(pool: &PgPool, id: Uuid, error: &str) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE import_jobs
            SET state = 'failed', finished_at = now(), error = $2
          WHERE id = $1 AND state IN ('queued', 'running')
      RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(error)
    .fetch_optional(pool)
    .await
}

/// Puts a job whose run hit a transient failure back to `queued` for the retry.
pub async fn requeue(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE import_jobs SET state = 'queued', rows_processed = 0
          WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Claims the right to send the job's error email. Only the first caller gets `true`,
/// which makes the email at-most-once even when a job is delivered twice.
pub async fn claim_email(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE import_jobs SET email_claimed_at = now()
          WHERE id = $1 AND email_claimed_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Records how the email send ended.
pub async fn record_email(
    pool: &PgPool,
    id: Uuid,
    outcome: Result<(), &str>,
) -> Result<(), sqlx::Error> {
    match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE import_jobs SET email_sent_at = now(), email_error = NULL WHERE id = $1",
            )
            .bind(id)
            .execute(pool)
            .await?
        }
        Err(message) => {
            sqlx::query("UPDATE import_jobs SET email_error = $2 WHERE id = $1")
                .bind(id)
                .bind(message)
                .execute(pool)
                .await?
        }
    };
    Ok(())
}

/// A tenant's jobs, newest first, optionally of one kind and state, and the total count.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    kind: Option<JobKind>,
    state: Option<JobState>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<JobRecord>, i64), sqlx::Error> {
    const FILTER: &str =
        "tenant_id = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR state = $3)";
    let kind = kind.map(JobKind::as_str);
    let state = state.map(JobState::as_str);
    let total: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM import_jobs WHERE {FILTER}"))
            .bind(tenant_id)
            .bind(kind)
            .bind(state)
            .fetch_one(pool)
            .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM import_jobs WHERE {FILTER}
          ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(tenant_id)
    .bind(kind)
    .bind(state)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}

/// Cancels a tenant's job: a queued one at once (it will never run), a running one at
/// its next chunk boundary. Returns the job as it is now, or `None` when not found.
pub async fn cancel(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<JobRecord>, sqlx::Error> {
    // One statement: the row lock orders it against a worker's start_run.
    sqlx::query_as(&format!(
        "UPDATE import_jobs
            SET cancel_requested_at = COALESCE(cancel_requested_at, now()),
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
                error = CASE WHEN state = 'queued' THEN 'cancelled on request before it started' ELSE error END,
                total_original_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_original_rows END,
                total_imported_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_imported_rows END,
                total_error_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_error_rows END
          WHERE id = $1 AND tenant_id = $2 AND state IN ('queued', 'running')
      RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
}

/// A job that holds an idempotency key, with the SHA-256 of its upload.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyedJob {
    #[sqlx(flatten)]
    pub job: JobRecord,
    pub file_sha256: Option<Vec<u8>>,
}

/// The tenant's job holding `key` if it was created less than `window_secs` ago. An older
/// holder gives the key up in the same statement, so the key can make a new job.
pub async fn find_by_idempotency_key(
    pool: &PgPool,
    tenant_id: Uuid,
    key: &str,
    window_secs: i64,
) -> Result<Option<KeyedJob>, sqlx::Error> {
    // The SELECT sees the snapshot before the UPDATE, hence its own age filter.
    sqlx::query_as(&format!(
        "WITH released AS (
            UPDATE import_jobs SET idempotency_key = NULL
             WHERE tenant_id = $1 AND idempotency_key = $2
               AND created_at <= now() - make_interval(secs => $3)
         )
         SELECT {COLUMNS}, file_sha256 FROM import_jobs
          WHERE tenant_id = $1 AND idempotency_key = $2
            AND created_at > now() - make_interval(secs => $3)"
    ))
    .bind(tenant_id)
    .bind(key)
    .bind(window_secs as f64)
    .fetch_optional(pool)
    .await
}
