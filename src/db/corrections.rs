//! Corrections: the jobs made from another job's corrected failed rows
//! (`import_jobs.parent_job_id`), read for the parents' views.

use sqlx::PgPool;
use uuid::Uuid;

/// The corrections of each of `parents`, oldest first, at most `per_parent` of each:
/// `(parent, correction)` pairs in one statement for a whole page of jobs.
pub(crate) async fn of_jobs(
    pool: &PgPool,
    parents: &[Uuid],
    per_parent: i64,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    // LATERAL with a LIMIT: the index on (parent_job_id, created_at, id) gives each
    // parent's first corrections without reading the rest.
    sqlx::query!(
        r#"SELECT p.id AS "parent!", c.id AS "id!"
             FROM unnest($1::uuid[]) AS p(id)
             CROSS JOIN LATERAL (
                 SELECT id, created_at FROM import_jobs
                  WHERE parent_job_id = p.id
                  ORDER BY created_at, id LIMIT $2) c
            ORDER BY c.created_at, c.id"#,
        parents,
        per_parent,
    )
    .map(|r| (r.parent, r.id))
    .fetch_all(pool)
    .await
}

/// How many corrections `parent` has.
pub(crate) async fn count(pool: &PgPool, parent: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM import_jobs WHERE parent_job_id = $1"#,
        parent
    )
    .fetch_one(pool)
    .await
}
