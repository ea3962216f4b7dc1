//! Import jobs: the source of truth for polling. Every state change is one statement
//! guarded by the state it expects, so a late or duplicate delivery cannot undo a result.

use super::page::{Page, PageRequest};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

use crate::domain::{ErrorSummaryEntry, ImportCounts, JobKind, JobState};

/// Column mapping given at upload: file header → supported field.
pub(crate) type ColumnMapping = std::collections::HashMap<String, String>;

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
    /// The name the uploader gave the job, if any.
    pub name: Option<String>,
    pub file_size: i64,
    pub column_mapping: Option<Json<ColumnMapping>>,
    /// The workbook sheet asked for (a name or a 1-based index), if any.
    pub sheet: Option<String>,
    pub send_error_email: bool,
    pub rows_processed: i64,
    /// Bytes of the file read by the chunks committed so far (`file_size` once completed).
    pub bytes_processed: i64,
    pub total_original_rows: Option<i64>,
    pub total_imported_rows: Option<i64>,
    pub total_error_rows: Option<i64>,
    /// Imported rows that were new.
    pub created_rows: Option<i64>,
    /// Imported rows that changed a stored row.
    pub updated_rows: Option<i64>,
    /// Imported rows whose values were all stored already (not rewritten).
    pub unchanged_rows: Option<i64>,
    /// A check of the file that wrote nothing (`validate_only`).
    pub dry_run: bool,
    pub error: Option<String>,
    pub attempts: i32,
    /// Runs that never reported back: their lease lapsed (see `expire_leases`).
    pub lost_runs: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub email_sent_at: Option<DateTime<Utc>>,
    pub email_error: Option<String>,
    /// The worker run that holds the job while it is `running`.
    pub lease_owner: Option<String>,
    /// When that run's lease ends unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The queue task that last carried the job.
    pub task_id: Option<Uuid>,
    /// When that task was pushed; `None` while the job waits for the reconciler.
    pub enqueued_at: Option<DateTime<Utc>>,
    /// The job is not run before this (a transient failure's backoff).
    pub run_after: DateTime<Utc>,
    /// Failed rows per problem code and column (see `db::job_errors`).
    pub error_summary: Json<Vec<ErrorSummaryEntry>>,
    /// The job whose failed rows this one corrects (`POST /jobs/{id}/corrections`).
    pub parent_job_id: Option<Uuid>,
    /// For a revert job (`POST /jobs/{id}/revert`): the job it undoes.
    pub reverts_job_id: Option<Uuid>,
    /// A revert job's rows deleted (created by the job it undoes).
    pub deleted_rows: Option<i64>,
    /// A revert job's rows set back to their values before the job it undoes.
    pub restored_rows: Option<i64>,
    /// A revert job's rows left alone because they changed since.
    pub conflict_rows: Option<i64>,
    /// Whether the job kept what it changed, for a revert (jobs from before undo existed
    /// did not).
    pub changes_kept: bool,
    /// When the kept changes were purged (`REVERT_RETENTION_DAYS` after the job ended).
    pub changes_purged_at: Option<DateTime<Utc>>,
}

/// `kind` as read from its text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobKindColumn(pub JobKind);

/// `state` as read from its text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStateColumn(pub JobState);

/// Reading a text column as a domain enum: `TryFrom<String>` for `FromRow` (the runtime
/// statements of `db::schedule::claim_next`), `Type`/`Decode` for the checked macros'
/// overrides (`state AS "state: JobStateColumn"`). Unknown text is a decode error.
macro_rules! text_column {
    ($column:ident) => {
        impl TryFrom<String> for $column {
            type Error = crate::domain::UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse().map(Self)
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $column {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $column {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(Self(text.parse()?))
            }
        }
    };
}
text_column!(JobKindColumn);
text_column!(JobStateColumn);

/// A [`JobRecord`] from a row of a checked query that selects every one of its columns
/// (with the overrides of the `query_as!(JobRecord, …)` statements) and more: the rows of
/// `list` carry the total, those of `find_by_idempotency_key` the upload's hash.
macro_rules! job_record {
    ($row:ident) => {
        JobRecord {
            id: $row.id,
            tenant_id: $row.tenant_id,
            user_id: $row.user_id,
            kind: $row.kind,
            state: $row.state,
            file_name: $row.file_name,
            name: $row.name,
            file_size: $row.file_size,
            column_mapping: $row.column_mapping,
            sheet: $row.sheet,
            send_error_email: $row.send_error_email,
            rows_processed: $row.rows_processed,
            bytes_processed: $row.bytes_processed,
            total_original_rows: $row.total_original_rows,
            total_imported_rows: $row.total_imported_rows,
            total_error_rows: $row.total_error_rows,
            created_rows: $row.created_rows,
            updated_rows: $row.updated_rows,
            unchanged_rows: $row.unchanged_rows,
            dry_run: $row.dry_run,
            error: $row.error,
            attempts: $row.attempts,
            lost_runs: $row.lost_runs,
            created_at: $row.created_at,
            started_at: $row.started_at,
            finished_at: $row.finished_at,
            cancel_requested_at: $row.cancel_requested_at,
            email_sent_at: $row.email_sent_at,
            email_error: $row.email_error,
            lease_owner: $row.lease_owner,
            lease_expires_at: $row.lease_expires_at,
            task_id: $row.task_id,
            enqueued_at: $row.enqueued_at,
            run_after: $row.run_after,
            error_summary: $row.error_summary,
            parent_job_id: $row.parent_job_id,
            reverts_job_id: $row.reverts_job_id,
            deleted_rows: $row.deleted_rows,
            restored_rows: $row.restored_rows,
            conflict_rows: $row.conflict_rows,
            changes_kept: $row.changes_kept,
            changes_purged_at: $row.changes_purged_at,
        }
    };
}

impl JobRecord {
    /// The job's kind.
    pub(crate) fn kind(&self) -> JobKind {
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
    /// The name the uploader gave the job (already checked).
    pub name: Option<String>,
    pub file_size: i64,
    pub column_mapping: Option<ColumnMapping>,
    /// The workbook sheet asked for (`sheet=`), as given.
    pub sheet: Option<String>,
    pub send_error_email: bool,
    /// Check the file and count what would happen, writing nothing (`validate_only`).
    pub dry_run: bool,
    /// The upload's `Idempotency-Key` header, unique per tenant (see `jobs::idempotency`).
    pub idempotency_key: Option<String>,
    /// SHA-256 of the uploaded bytes, compared when an idempotency key comes again.
    pub file_sha256: Option<Vec<u8>>,
    /// The job whose failed rows this one corrects, for a correction.
    pub parent_job_id: Option<Uuid>,
    /// The job a revert job undoes, for a revert.
    pub reverts_job_id: Option<Uuid>,
}

/// The columns of a [`JobRecord`], for the runtime statements of `db::schedule::claim_next`
/// (the checked statements here spell them out, with their type overrides).
pub(crate) const COLUMNS: &str = "id, tenant_id, user_id, kind, state, file_name, name, file_size, column_mapping,
    sheet, send_error_email, rows_processed, bytes_processed, total_original_rows, total_imported_rows, total_error_rows,
    created_rows, updated_rows, unchanged_rows, dry_run, error, attempts, lost_runs, created_at, started_at, finished_at, cancel_requested_at, email_sent_at,
    email_error, lease_owner, lease_expires_at, task_id, enqueued_at, run_after,
    error_summary, parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
    changes_kept, changes_purged_at";

/// Inserts a queued job that `task_id` is about to carry. If that push never reaches the
/// queue, the reconciler finds the task missing and enqueues the job again.
pub async fn insert(
    conn: impl sqlx::PgExecutor<'_>,
    job: &NewJob,
    task_id: Uuid,
) -> Result<JobRecord, sqlx::Error> {
    sqlx::query_as!(
        JobRecord,
        r#"INSERT INTO import_jobs (id, tenant_id, user_id, kind, file_name, file_size,
                                  column_mapping, send_error_email, task_id, enqueued_at,
                                  idempotency_key, file_sha256, name, dry_run, sheet, parent_job_id,
                                  reverts_job_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), $10, $11, $12, $13, $14, $15, $16)
         RETURNING id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at"#,
        job.id,
        job.tenant_id,
        job.user_id,
        job.kind.as_str(),
        job.file_name,
        job.file_size,
        job.column_mapping.as_ref().map(Json) as _,
        job.send_error_email,
        task_id,
        job.idempotency_key.as_deref(),
        job.file_sha256.as_deref(),
        job.name.as_deref(),
        job.dry_run,
        job.sheet.as_deref(),
        job.parent_job_id,
        job.reverts_job_id,
    )
    .fetch_one(conn)
    .await
}

/// A job by id, whoever owns it (workers).
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
    sqlx::query_as!(
        JobRecord,
        r#"SELECT id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at
           FROM import_jobs WHERE id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await
}

/// A job by id, only when it belongs to `tenant_id` (API).
pub(crate) async fn get_for_tenant(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<JobRecord>, sqlx::Error> {
    Ok(get(pool, id)
        .await?
        .filter(|job| job.tenant_id == tenant_id))
}

/// A run's hold on a job: who holds it and for how long each renewal extends it.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Unique per run, so that a second run of the same worker is another owner.
    pub owner: String,
    /// How long the job stays held without a renewal.
    pub duration: std::time::Duration,
}

impl Lease {
    fn seconds(&self) -> f64 {
        self.duration.as_secs_f64()
    }
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours; carry on.
    Held,
    /// Still ours, and a cancel was requested.
    CancelRequested,
    /// Another run (or the reconciler) has the job now: stop without writing counts.
    Lost,
}

/// Extends the lease and, when given, records progress: rows processed and how far into
/// the file (bytes) they reach.
pub async fn renew(
    pool: &PgPool,
    id: Uuid,
    lease: &Lease,
    progress: Option<(i64, i64)>,
) -> Result<Renewal, sqlx::Error> {
    let cancel = sqlx::query_scalar!(
        r#"UPDATE import_jobs
            SET lease_expires_at = now() + make_interval(secs => $3),
                rows_processed = COALESCE($4, rows_processed),
                bytes_processed = LEAST(file_size, COALESCE($5, bytes_processed))
          WHERE id = $1 AND state = 'running' AND lease_owner = $2
      RETURNING cancel_requested_at IS NOT NULL AS "cancel_requested!""#,
        id,
        lease.owner,
        lease.seconds(),
        progress.map(|(rows, _)| rows),
        progress.map(|(_, bytes)| bytes),
    )
    .fetch_optional(pool)
    .await?;
    Ok(match cancel {
        None => Renewal::Lost,
        Some(true) => Renewal::CancelRequested,
        Some(false) => Renewal::Held,
    })
}

/// Moves a job to a terminal state. With `lease`, only while that run still holds it;
/// without, only while nobody does (queued, or running with a lapsed lease). Exactly one
/// caller gets the row back, which makes the end of a job happen once.
pub async fn end(
    conn: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    lease: Option<&Lease>,
    state: JobState,
    counts: Option<ImportCounts>,
    error: Option<&str>,
) -> Result<Option<JobRecord>, sqlx::Error> {
    debug_assert!(state.is_terminal());
    // `$4::bigint`: the counts' type, which Postgres would otherwise guess from the `0`.
    sqlx::query_as!(
        JobRecord,
        r#"UPDATE import_jobs
            SET state = $2, finished_at = now(), error = $3,
                lease_owner = NULL, lease_expires_at = NULL,
                rows_processed = GREATEST(rows_processed, COALESCE($4::bigint, 0)),
                bytes_processed = CASE WHEN $2 = 'completed' THEN file_size
                                       ELSE bytes_processed END,
                total_original_rows = COALESCE($4, total_original_rows),
                total_imported_rows = COALESCE($5, total_imported_rows),
                total_error_rows = COALESCE($6, total_error_rows),
                -- A revert job counts deleted, restored and conflict rows instead.
                created_rows = CASE WHEN reverts_job_id IS NULL THEN COALESCE($8, created_rows) END,
                updated_rows = CASE WHEN reverts_job_id IS NULL THEN COALESCE($9, updated_rows) END,
                unchanged_rows = CASE WHEN reverts_job_id IS NULL THEN COALESCE($10, unchanged_rows) END,
                deleted_rows = CASE WHEN reverts_job_id IS NOT NULL THEN COALESCE($11, deleted_rows) END,
                restored_rows = CASE WHEN reverts_job_id IS NOT NULL THEN COALESCE($12, restored_rows) END,
                conflict_rows = CASE WHEN reverts_job_id IS NOT NULL THEN COALESCE($13, conflict_rows) END
          WHERE id = $1
            AND CASE WHEN $7::text IS NULL
                     THEN state = 'queued'
                          OR (state = 'running' AND COALESCE(lease_expires_at, '-infinity') < now())
                     ELSE state = 'running' AND lease_owner = $7
                END
      RETURNING id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at"#,
        id,
        state.as_str(),
        error,
        counts.map(|c| c.total_original_rows),
        counts.map(|c| c.total_imported_rows),
        counts.map(|c| c.total_error_rows),
        lease.map(|l| l.owner.as_str()),
        counts.map(|c| c.created_rows),
        counts.map(|c| c.updated_rows),
        counts.map(|c| c.unchanged_rows),
        counts.map(|c| c.deleted_rows),
        counts.map(|c| c.restored_rows),
        counts.map(|c| c.conflict_rows),
    )
    .fetch_optional(conn)
    .await
}

/// Gives a job that hit a transient failure back to the queue: the reconciler enqueues
/// it again once `delay` has passed. `note` tells the client why it waits.
pub(crate) async fn release_for_retry(
    pool: &PgPool,
    id: Uuid,
    lease: &Lease,
    note: &str,
    delay: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    let released = sqlx::query!(
        "UPDATE import_jobs
            SET state = 'queued', rows_processed = 0, bytes_processed = 0, error = $3,
                lease_owner = NULL, lease_expires_at = NULL, enqueued_at = NULL,
                run_after = now() + make_interval(secs => $4)
          WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        id,
        lease.owner,
        note,
        delay.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(released.rows_affected() == 1)
}

/// Hands on the jobs whose run stopped renewing its lease: they go back to `queued`
/// for the reconciler to enqueue again. Returns how many.
pub(crate) async fn expire_leases(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    let expired = sqlx::query!(
        "UPDATE import_jobs
            SET state = 'queued', rows_processed = 0, bytes_processed = 0, lease_owner = NULL,
                lease_expires_at = NULL, enqueued_at = NULL, run_after = now(),
                lost_runs = lost_runs + 1,
                error = 'the worker running it stopped reporting; handed on to another worker'
          WHERE state = 'running' AND COALESCE(lease_expires_at, '-infinity') < now()",
    )
    .execute(conn)
    .await?;
    Ok(expired.rows_affected())
}

/// A queued job that may have no live queue task.
#[derive(Debug, Clone)]
pub(crate) struct QueuedJob {
    pub id: Uuid,
    /// The task that last carried it; `None` when it was never pushed or was released.
    pub task_id: Option<Uuid>,
    /// False when the job waits for its first (or next) push.
    pub pushed: bool,
}

/// Queued jobs that are due and were pushed longer than `grace` ago (or not at all).
/// Jobs of a tenant at its cap of live runs (`tenant_max_running`, 0: none) are left
/// out: the run that frees the tenant's slot picks the next one itself, and a lapsed
/// lease frees it here (see `db::schedule`), so pushing them would only wake workers
/// for nothing.
pub(crate) async fn due_for_enqueue(
    conn: &mut sqlx::PgConnection,
    grace: std::time::Duration,
    limit: i64,
    tenant_max_running: u32,
) -> Result<Vec<QueuedJob>, sqlx::Error> {
    // The live-run test is `db::schedule::LIVE_RUN`; `$3::bigint` as the count it is
    // compared with (Postgres would otherwise guess integer from the `0`).
    sqlx::query_as!(
        QueuedJob,
        r#"SELECT id, task_id, enqueued_at IS NOT NULL AS "pushed!"
           FROM import_jobs q
          WHERE state = 'queued' AND run_after <= now()
            AND COALESCE(enqueued_at, '-infinity') < now() - make_interval(secs => $1)
            AND ($3::bigint = 0 OR (SELECT count(*) FROM import_jobs r
                             WHERE r.tenant_id = q.tenant_id
                               AND r.state = 'running' AND r.lease_expires_at >= now()) < $3)
          ORDER BY run_after, created_at
          LIMIT $2"#,
        grace.as_secs_f64(),
        limit,
        i64::from(tenant_max_running),
    )
    .fetch_all(conn)
    .await
}

/// Records that `task_id` now carries the queued job.
pub(crate) async fn mark_enqueued(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    task_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE import_jobs SET task_id = $2, enqueued_at = now()
          WHERE id = $1 AND state = 'queued'",
        id,
        task_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The state of each of `ids` that has a job row (unknown ids are left out).
pub(crate) async fn states_of(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query!("SELECT id, state FROM import_jobs WHERE id = ANY($1)", ids)
        .map(|r| (r.id, r.state))
        .fetch_all(pool)
        .await
}

/// Claims the right to send the job's error email. Only the first caller gets `true`,
/// which makes the email at-most-once even when a job is delivered twice.
pub(crate) async fn claim_email(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query!(
        "UPDATE import_jobs SET email_claimed_at = now()
          WHERE id = $1 AND email_claimed_at IS NULL",
        id,
    )
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Records how the email send ended.
pub(crate) async fn record_email(
    pool: &PgPool,
    id: Uuid,
    outcome: Result<(), &str>,
) -> Result<(), sqlx::Error> {
    match outcome {
        Ok(()) => {
            sqlx::query!(
                "UPDATE import_jobs SET email_sent_at = now(), email_error = NULL WHERE id = $1",
                id,
            )
            .execute(pool)
            .await?
        }
        Err(message) => {
            sqlx::query!(
                "UPDATE import_jobs SET email_error = $2 WHERE id = $1",
                id,
                message,
            )
            .execute(pool)
            .await?
        }
    };
    Ok(())
}

/// What the job history is filtered by; `None` means any.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ListFilter<'a> {
    pub kind: Option<JobKind>,
    pub state: Option<JobState>,
    /// The job's name, matched exactly.
    pub name: Option<&'a str>,
}

/// A tenant's jobs, newest first, filtered, and the total count.
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: ListFilter<'_>,
    page: PageRequest,
) -> Result<Page<JobRecord>, sqlx::Error> {
    let kind = filter.kind.map(JobKind::as_str);
    let state = filter.state.map(JobState::as_str);
    page.read(|page| {
        sqlx::query!(
            r#"SELECT id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at,
                (SELECT count(*) FROM import_jobs
                  WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2)
                    AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR name = $4)
                ) AS "total!"
                 FROM import_jobs
                WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2)
                  AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR name = $4)
                ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"#,
            tenant_id,
            kind,
            state,
            filter.name,
            page.limit,
            page.offset,
        )
        .map(|r| (job_record!(r), r.total))
        .fetch_all(pool)
    })
    .await
}

/// Cancels a tenant's job: a queued one at once (it will never run), a running one at
/// its next chunk boundary. Returns the job as it is now, or `None` when not found.
pub(crate) async fn cancel(
    conn: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<JobRecord>, sqlx::Error> {
    // One statement: the row lock orders it against a worker's start_run.
    sqlx::query_as!(
        JobRecord,
        r#"UPDATE import_jobs
            SET cancel_requested_at = COALESCE(cancel_requested_at, now()),
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
                error = CASE WHEN state = 'queued' THEN 'cancelled on request before it started' ELSE error END,
                total_original_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_original_rows END,
                total_imported_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_imported_rows END,
                total_error_rows = CASE WHEN state = 'queued' THEN 0 ELSE total_error_rows END
          WHERE id = $1 AND tenant_id = $2 AND state IN ('queued', 'running')
      RETURNING id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at"#,
        id,
        tenant_id,
    )
    .fetch_optional(conn)
    .await
}

/// A job that holds an idempotency key, with the SHA-256 of its upload.
#[derive(Debug, Clone)]
pub struct KeyedJob {
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
    sqlx::query!(
        r#"WITH released AS (
            UPDATE import_jobs SET idempotency_key = NULL
             WHERE tenant_id = $1 AND idempotency_key = $2
               AND created_at <= now() - make_interval(secs => $3)
         )
         SELECT id, tenant_id, user_id, kind AS "kind: JobKindColumn", state AS "state: JobStateColumn",
                file_name, name, file_size, column_mapping AS "column_mapping: Json<ColumnMapping>",
                sheet, send_error_email, rows_processed, bytes_processed, total_original_rows,
                total_imported_rows, total_error_rows, created_rows, updated_rows, unchanged_rows,
                dry_run, error, attempts, lost_runs, created_at, started_at, finished_at,
                cancel_requested_at, email_sent_at, email_error, lease_owner, lease_expires_at,
                task_id, enqueued_at, run_after,
                error_summary AS "error_summary: Json<Vec<ErrorSummaryEntry>>",
                parent_job_id, reverts_job_id, deleted_rows, restored_rows, conflict_rows,
                changes_kept, changes_purged_at,
                file_sha256
           FROM import_jobs
          WHERE tenant_id = $1 AND idempotency_key = $2
            AND created_at > now() - make_interval(secs => $3)"#,
        tenant_id,
        key,
        window_secs as f64,
    )
    .map(|r| KeyedJob {
        job: job_record!(r),
        file_sha256: r.file_sha256,
    })
    .fetch_optional(pool)
    .await
}

/// Jobs of all tenants by kind and state: `(kind, state, jobs)`, for metrics.
pub(crate) async fn totals(pool: &PgPool) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query!(r#"SELECT kind, state, count(*) AS "jobs!" FROM import_jobs GROUP BY kind, state"#)
        .map(|r| (r.kind, r.state, r.jobs))
        .fetch_all(pool)
        .await
}

/// Queued and running jobs by tenant slug: `(slug, state, jobs)`, for metrics with tenant
/// labels; a tenant with neither has no row.
pub(crate) async fn tenant_totals(
    pool: &PgPool,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT t.slug, j.state, count(*) AS "jobs!"
           FROM import_jobs j JOIN tenants t ON t.id = j.tenant_id
          WHERE j.state IN ('queued', 'running')
          GROUP BY t.slug, j.state"#,
    )
    .map(|r| (r.slug, r.state, r.jobs))
    .fetch_all(pool)
    .await
}

/// Rows of all ended jobs by kind: `(kind, imported, failed)`, for metrics.
pub(crate) async fn row_totals(pool: &PgPool) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query!(
        r#"SELECT kind, COALESCE(sum(total_imported_rows), 0)::bigint AS "imported!",
                COALESCE(sum(total_error_rows), 0)::bigint AS "failed!"
           FROM import_jobs
          WHERE state IN ('completed', 'failed', 'cancelled')
          GROUP BY kind"#,
    )
    .map(|r| (r.kind, r.imported, r.failed))
    .fetch_all(pool)
    .await
}
