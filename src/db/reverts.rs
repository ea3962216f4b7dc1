//! Reverts: the jobs that undo another job (`import_jobs.reverts_job_id`), and the
//! before-images they read (`import_change_sets`, unpacked into `import_changes`), kept
//! `REVERT_RETENTION_DAYS`.

use sqlx::PgPool;
use uuid::Uuid;

/// The revert (not a dry run) of each of `jobs` that has one, as `(job, revert)` pairs:
/// the queued, running or completed one, else the latest that failed or was cancelled.
pub(crate) async fn of_jobs(
    pool: &PgPool,
    jobs: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query!(
        r#"SELECT DISTINCT ON (reverts_job_id) reverts_job_id AS "job!", id
             FROM import_jobs
            WHERE reverts_job_id = ANY($1) AND NOT dry_run
            ORDER BY reverts_job_id, state IN ('queued', 'running', 'completed') DESC,
                     created_at DESC"#,
        jobs,
    )
    .map(|r| (r.job, r.id))
    .fetch_all(pool)
    .await
}

/// The revert of `job` that is queued, running or completed, if any: a job is reverted
/// at most once (a unique index holds it).
pub(crate) async fn active_of(pool: &PgPool, job: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT id FROM import_jobs
            WHERE reverts_job_id = $1 AND NOT dry_run
              AND state IN ('queued', 'running', 'completed')"#,
        job,
    )
    .fetch_optional(pool)
    .await
}

/// Whether `error` is the refusal of a second revert of one job (its unique index).
pub(crate) fn is_second_revert(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.constraint() == Some("import_jobs_one_revert_idx"))
}

/// Purges the before-images of jobs that ended more than `days` days ago, a few jobs at
/// a time (`jobs` at most), and marks them purged; returns how many jobs were purged.
pub(crate) async fn purge(pool: &PgPool, days: u32, jobs: i64) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let purged = sqlx::query_scalar!(
        r#"UPDATE import_jobs SET changes_purged_at = now()
            WHERE id IN (SELECT id FROM import_jobs
                          WHERE changes_kept AND changes_purged_at IS NULL
                            AND finished_at < now() - make_interval(days => $1)
                          ORDER BY finished_at LIMIT $2
                          FOR UPDATE SKIP LOCKED)
        RETURNING id"#,
        days as i32,
        jobs,
    )
    .fetch_all(&mut *tx)
    .await?;
    if !purged.is_empty() {
        sqlx::query!("DELETE FROM import_changes WHERE job_id = ANY($1)", &purged)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "DELETE FROM import_change_sets WHERE job_id = ANY($1)",
            &purged
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(purged.len() as u64)
}
