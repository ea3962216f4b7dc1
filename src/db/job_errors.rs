//! The failed rows of a job as data (`import_job_errors`) and its `error_summary`.
//!
//! Only the run that holds the job's lease writes them: every write is guarded by the
//! lease in the same statement, so a run that lost its job can never mix its rows into
//! those of the run that took over (which starts by clearing them).

use super::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgPool, types::Json};
use uuid::Uuid;

use super::jobs::Lease;
use crate::{
    domain::{Problem, ProblemCode},
    import::FailedRows,
};

/// One stored failed row.
#[derive(Debug, Clone)]
pub(crate) struct StoredError {
    /// The physical line where the row starts in the upload (the header is line 1).
    pub line: i64,
    /// The row's cells under their header names, in header order.
    pub row_values: Json<Vec<HeaderValue>>,
    /// Cells beyond the header, up to the last non-empty one.
    pub extra_values: Json<Vec<String>>,
    /// Every problem of the row.
    pub problems: Json<Vec<Problem>>,
}

/// A header name and the row's cell under it (`None` when the row has no such cell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeaderValue(pub String, pub Option<String>);

/// Starts a run's record afresh: removes the rows and summary an earlier run of the job
/// left. Does nothing unless `lease` holds the job.
pub async fn clear(pool: &PgPool, job_id: Uuid, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH owner AS (
            UPDATE import_jobs SET error_summary = '[]'
             WHERE id = $1 AND state = 'running' AND lease_owner = $2
            RETURNING id)
         DELETE FROM import_job_errors WHERE job_id IN (SELECT id FROM owner)",
        job_id,
        lease.owner,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a chunk's failed rows — the first `room` of them — and the run's summary so
/// far, while `lease` holds the job. Returns how many rows were stored.
pub async fn record(
    pool: &PgPool,
    job_id: Uuid,
    lease: &Lease,
    failed: FailedRows<'_>,
    room: usize,
) -> Result<u64, sqlx::Error> {
    let rows: Vec<serde_json::Value> = failed
        .rows
        .iter()
        .take(room)
        .map(|row| {
            let values: Vec<HeaderValue> = row
                .values(failed.header)
                .map(|(name, cell)| {
                    HeaderValue(
                        name.to_owned(),
                        cell.map(|c| crate::import::limits::stored_value(c).into_owned()),
                    )
                })
                .collect();
            json!({
                "line": row.line,
                "row_values": values,
                "extra_values": row
                    .extra_values(failed.header.len())
                    .iter()
                    .take(crate::import::limits::MAX_STORED_EXTRA_VALUES)
                    .map(|v| crate::import::limits::stored_value(v).into_owned())
                    .collect::<Vec<_>>(),
                "problems": row.problems,
            })
        })
        .collect();
    // The UPDATE locks the job's row: a run taking the job over waits for this statement
    // (and then clears what it wrote) or makes it find another owner and write nothing.
    let stored = sqlx::query!(
        "WITH owner AS (
            UPDATE import_jobs SET error_summary = $3
             WHERE id = $1 AND state = 'running' AND lease_owner = $2
            RETURNING id)
         INSERT INTO import_job_errors (job_id, line, row_values, extra_values, problems)
         SELECT owner.id, (e->>'line')::bigint, e->'row_values', e->'extra_values', e->'problems'
           FROM owner, jsonb_array_elements($4) AS e
         ON CONFLICT (job_id, line) DO NOTHING",
        job_id,
        lease.owner,
        Json(failed.summary) as _,
        Json(rows) as _,
    )
    .execute(pool)
    .await?;
    Ok(stored.rows_affected())
}

/// One page of a job's stored failed rows in line order, optionally only those with a
/// problem of `code`, and how many there are in all.
pub(crate) async fn list(
    pool: &PgPool,
    job_id: Uuid,
    code: Option<ProblemCode>,
    page: PageRequest,
) -> Result<Page<StoredError>, sqlx::Error> {
    // A job holds at most `error_rows_stored_max` rows: the containment test scans one
    // job's rows through the primary key, no index on the codes is needed.
    let code = code.map(ProblemCode::as_str);
    page.read(|page| {
        sqlx::query!(
            r#"SELECT line, row_values AS "row_values: Json<Vec<HeaderValue>>",
                      extra_values AS "extra_values: Json<Vec<String>>",
                      problems AS "problems: Json<Vec<Problem>>",
                      (SELECT count(*) FROM import_job_errors
                        WHERE job_id = $1
                          AND ($2::text IS NULL
                               OR problems @> jsonb_build_array(jsonb_build_object('code', $2::text)))
                      ) AS "total!"
                 FROM import_job_errors
                WHERE job_id = $1
                  AND ($2::text IS NULL
                       OR problems @> jsonb_build_array(jsonb_build_object('code', $2::text)))
                ORDER BY line LIMIT $3 OFFSET $4"#,
            job_id,
            code,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let error = StoredError {
                line: r.line,
                row_values: r.row_values,
                extra_values: r.extra_values,
                problems: r.problems,
            };
            (error, r.total)
        })
        .fetch_all(pool)
    })
    .await
}

/// The job's stored failed rows at `lines` (those of them that are stored), in line order:
/// the rows a correction replaces. `lines` is bounded by the caller (a correction's rows).
pub(crate) async fn at_lines(
    pool: &PgPool,
    job_id: Uuid,
    lines: &[i64],
) -> Result<Vec<StoredError>, sqlx::Error> {
    sqlx::query_as!(
        StoredError,
        r#"SELECT line, row_values AS "row_values: Json<Vec<HeaderValue>>",
                  extra_values AS "extra_values: Json<Vec<String>>",
                  problems AS "problems: Json<Vec<Problem>>"
             FROM import_job_errors
            WHERE job_id = $1 AND line = ANY($2)
            ORDER BY line"#,
        job_id,
        lines,
    )
    .fetch_all(pool)
    .await
}
