//! Which job runs next, and how much one tenant may hold: the fair pick across tenants
//! and the per-tenant limits. Postgres decides both (it is the truth for jobs); Redis only
//! wakes the workers.
//!
//! **The fair pick.** A free worker slot takes the oldest claimable job of the tenant
//! with the fewest jobs running; among tenants running as many, the one whose last job
//! started longest ago (never served first); within a tenant, first in first out. A
//! tenant at `TENANT_MAX_RUNNING` live runs is passed over. Picks are serialised by a
//! transaction-scoped advisory lock, so two workers never both see a tenant one below its
//! cap and both start a job of it; a pick takes a few milliseconds.
//!
//! A run counts against its tenant while its lease is live: a worker killed while holding
//! a tenant's slot frees it when the lease lapses.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::jobs::{COLUMNS, JobRecord, Lease, NewJob};

/// Any constant unique to this lock, shared by all workers.
const PICK_LOCK: i64 = 0x6261_7463_685f_706b; // "batch_pk"

/// The order jobs are picked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PickOrder {
    /// Fewest running first, then the tenant served longest ago, then oldest.
    #[default]
    Fair,
    /// The oldest job of any tenant: the queue's order before fair scheduling, kept as
    /// the benchmark's baseline (the cap still applies).
    Fifo,
}

impl PickOrder {
    fn order_by(self) -> &'static str {
        match self {
            Self::Fair => "running, last_started NULLS FIRST, created_at, id",
            Self::Fifo => "created_at, id",
        }
    }
}

/// What may be picked and how many of a tenant's jobs may run.
#[derive(Debug, Clone, Copy)]
pub struct PickRules {
    /// Which job goes first.
    pub order: PickOrder,
    /// Live runs one tenant may have at once; 0: no cap.
    pub tenant_max_running: u32,
    /// A job with this many runs already is not picked (the runner fails it).
    pub max_attempts: i32,
    /// A job with this many lost runs is not picked (the runner fails it).
    pub max_lost_runs: i32,
}

/// A job a run may start: queued and due, or running with a lapsed lease (its worker
/// stopped reporting), no cancel pending, and not out of attempts or lost runs. `$2` is
/// `max_attempts`, `$3` `max_lost_runs`.
const CLAIMABLE: &str = "cancel_requested_at IS NULL AND run_after <= now() AND attempts < $2
    AND ((state = 'queued' AND lost_runs < $3)
         OR (state = 'running' AND COALESCE(lease_expires_at, '-infinity') < now()
             AND lost_runs + 1 < $3))";

/// A run that holds a tenant's slot: running under a live lease. The checked statements
/// (`queue_full`, `db::jobs::due_for_enqueue`) spell it out.
pub(crate) const LIVE_RUN: &str = "state = 'running' AND lease_expires_at >= now()";

/// Picks the next job in the fair order and starts a run of it under `lease` (as a
/// claim: progress and counts from zero, one more attempt; taking over a lapsed run
/// counts that run as lost). `None` when nothing may start now.
pub async fn claim_next(
    pool: &PgPool,
    lease: &Lease,
    rules: PickRules,
) -> Result<Option<JobRecord>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", PICK_LOCK)
        .execute(&mut *tx)
        .await?;
    // A cancel may take the picked job between the pick and the claim: pick again.
    for _ in 0..3 {
        // Runtime SQL: the ORDER BY is the PickOrder's, and the claim below must re-test
        // exactly the pick's CLAIMABLE; two literal copies of this statement would drift.
        let picked: Option<Uuid> = sqlx::query_scalar(&format!(
            // Each tenant's oldest claimable job: the tenants with queued jobs are walked
            // through `import_jobs_queued_tenant_idx` one index probe each (a loose index
            // scan) and each one's head read in order there, instead of sorting every
            // queued job (10,000 queued over 100 tenants: 3 ms instead of 17). Lapsed runs
            // are few and join them as they are.
            "WITH RECURSIVE tenants AS (
                (SELECT tenant_id FROM import_jobs WHERE state = 'queued'
                  ORDER BY tenant_id LIMIT 1)
                UNION ALL
                SELECT (SELECT q.tenant_id FROM import_jobs q
                         WHERE q.state = 'queued' AND q.tenant_id > t.tenant_id
                         ORDER BY q.tenant_id LIMIT 1)
                  FROM tenants t WHERE t.tenant_id IS NOT NULL
             ), heads AS (
                SELECT h.id, h.tenant_id, h.created_at
                  FROM tenants t,
                       LATERAL (SELECT id, tenant_id, created_at FROM import_jobs
                                 WHERE tenant_id = t.tenant_id AND state = 'queued'
                                   AND {CLAIMABLE}
                                 ORDER BY created_at, id LIMIT 1) h
                UNION ALL
                SELECT id, tenant_id, created_at FROM import_jobs
                 WHERE state = 'running' AND {CLAIMABLE}
             ), load AS (
                SELECT DISTINCT ON (h.tenant_id) h.id, h.created_at,
                       (SELECT count(*) FROM import_jobs r
                         WHERE r.tenant_id = h.tenant_id AND r.{LIVE_RUN}) AS running,
                       (SELECT max(s.started_at) FROM import_jobs s
                         WHERE s.tenant_id = h.tenant_id) AS last_started
                  FROM heads h
                 ORDER BY h.tenant_id, h.created_at, h.id
             )
             SELECT id FROM load
              WHERE $1 = 0 OR running < $1
              ORDER BY {order}
              LIMIT 1",
            order = rules.order.order_by()
        ))
        .bind(i64::from(rules.tenant_max_running))
        .bind(rules.max_attempts)
        .bind(rules.max_lost_runs)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = picked else { break };
        // clock_timestamp(), not now(): now() is when this transaction began, before it
        // waited for the pick lock, so two picks could record their starts in the
        // opposite order to the one they were made in (and "served longest ago" would
        // then favour the wrong tenant), and a lock wait would shorten the lease.
        // Runtime SQL: it shares CLAIMABLE with the pick above.
        let claimed: Option<JobRecord> = sqlx::query_as(&format!(
            "UPDATE import_jobs
                SET state = 'running', started_at = clock_timestamp(), rows_processed = 0, bytes_processed = 0,
                    total_original_rows = NULL, total_imported_rows = NULL, total_error_rows = NULL,
                    created_rows = NULL, updated_rows = NULL, unchanged_rows = NULL,
                    error = NULL, attempts = attempts + 1,
                    lost_runs = lost_runs + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
                    lease_owner = $4, lease_expires_at = clock_timestamp() + make_interval(secs => $5)
              WHERE id = $1 AND {CLAIMABLE}
          RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(rules.max_attempts)
        .bind(rules.max_lost_runs)
        .bind(&lease.owner)
        .bind(lease.duration.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_some() {
            tx.commit().await?;
            return Ok(claimed);
        }
    }
    tx.commit().await?;
    Ok(None)
}

/// A tenant's queue is full: an upload would be one job too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull {
    /// `TENANT_MAX_QUEUED`.
    pub limit: u32,
    /// Whole seconds after which a slot is likely free (at least 1).
    pub retry_after: u64,
}

/// What an upload became under the tenant's queue limit.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The job was recorded, queued.
    Admitted(Box<JobRecord>),
    /// The tenant has `limit` jobs queued already; nothing was recorded.
    Refused(QueueFull),
}

/// Records `job` (queued, carried by `task_id`) unless its tenant already has
/// `max_queued` jobs queued (0: no limit). The tenant's row lock makes the count and the
/// insert one step, so concurrent uploads cannot overfill the queue.
pub(crate) async fn admit(
    pool: &PgPool,
    job: &NewJob,
    task_id: Uuid,
    max_queued: u32,
) -> Result<Admission, sqlx::Error> {
    if max_queued == 0 {
        let record = super::jobs::insert(pool, job, task_id).await?;
        return Ok(Admission::Admitted(Box::new(record)));
    }
    let mut tx = pool.begin().await?;
    // No columns: only the row lock matters.
    sqlx::query!(
        "SELECT FROM tenants WHERE id = $1 FOR UPDATE",
        job.tenant_id
    )
    .execute(&mut *tx)
    .await?;
    if let Some(full) = queue_full(&mut *tx, job.tenant_id, max_queued).await? {
        return Ok(Admission::Refused(full));
    }
    let record = super::jobs::insert(&mut *tx, job, task_id).await?;
    tx.commit().await?;
    Ok(Admission::Admitted(Box::new(record)))
}

/// `Some` when the tenant has `max_queued` jobs queued or more (0: never).
pub(crate) async fn queue_full(
    conn: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    max_queued: u32,
) -> Result<Option<QueueFull>, sqlx::Error> {
    if max_queued == 0 {
        return Ok(None);
    }
    // The wait estimate: the tenant's recent runs' mean length, shared by its live runs.
    // The live-run test is LIVE_RUN.
    let load = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM import_jobs WHERE tenant_id = $1 AND state = 'queued')
                      AS "queued!",
                  (SELECT avg(extract(epoch FROM finished_at - started_at))::float8 FROM (
                      SELECT finished_at, started_at FROM import_jobs
                       WHERE tenant_id = $1 AND finished_at IS NOT NULL AND started_at IS NOT NULL
                       ORDER BY finished_at DESC LIMIT 20) recent) AS mean_run_secs,
                  (SELECT count(*) FROM import_jobs
                    WHERE tenant_id = $1 AND state = 'running' AND lease_expires_at >= now())
                      AS "running!""#,
        tenant_id,
    )
    .fetch_one(conn)
    .await?;
    let (queued, mean_run_secs, running) = (load.queued, load.mean_run_secs, load.running);
    if queued < i64::from(max_queued) {
        return Ok(None);
    }
    Ok(Some(QueueFull {
        limit: max_queued,
        retry_after: retry_after_secs(mean_run_secs, running),
    }))
}

/// Seconds until one of the tenant's runs likely ends: its mean run shared by its live
/// runs, 1 to 300; 10 without history.
fn retry_after_secs(mean_run_secs: Option<f64>, running: i64) -> u64 {
    match mean_run_secs {
        Some(mean) if mean.is_finite() => {
            (mean / running.max(1) as f64).ceil().clamp(1.0, 300.0) as u64
        }
        _ => 10,
    }
}

/// How many queued jobs the fair order takes before each of `ids` that is queued (others
/// are left out). The order is turns: each tenant's oldest queued job is in turn 1, its
/// second in turn 2, and so on; a job is behind every job of an earlier turn and every
/// job of its own turn uploaded before it. An estimate where a cap holds a tenant back
/// or a turn is decided by which tenant was served last; it counts jobs, never says
/// whose.
pub(crate) async fn jobs_ahead(
    pool: &PgPool,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query!(
        r#"WITH q AS (
            SELECT id, created_at,
                   row_number() OVER (PARTITION BY tenant_id ORDER BY created_at, id) AS turn
              FROM import_jobs
             WHERE state = 'queued' AND cancel_requested_at IS NULL
         )
         SELECT j.id AS "id!",
                (SELECT count(*) FROM q x
                  WHERE x.turn < j.turn
                     OR (x.turn = j.turn AND (x.created_at, x.id) < (j.created_at, j.id)))
                    AS "ahead!"
           FROM q j
          WHERE j.id = ANY($1)"#,
        ids,
    )
    .map(|r| (r.id, r.ahead))
    .fetch_all(pool)
    .await
}

/// Worker slots the jobs in hand could use now: each tenant's running and waiting jobs,
/// at most `tenant_max_running` of them (0: no cap). What autoscaling should follow: a
/// capped tenant's backlog needs no more workers than its cap.
pub(crate) async fn slots_wanted(
    pool: &PgPool,
    tenant_max_running: u32,
) -> Result<i64, sqlx::Error> {
    // `$1::bigint` as the counts it caps (Postgres would otherwise guess integer from the `0`).
    sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(CASE WHEN $1::bigint = 0 THEN jobs ELSE LEAST(jobs, $1) END), 0)::bigint
                      AS "slots!"
           FROM (SELECT count(*) AS jobs FROM import_jobs
                  WHERE state = 'running' OR (state = 'queued' AND cancel_requested_at IS NULL)
                  GROUP BY tenant_id) per_tenant"#,
        i64::from(tenant_max_running),
    )
    .fetch_one(pool)
    .await
}

/// How long a started job waited: from its upload to the start of its first run.
pub(crate) fn queue_wait(job: &JobRecord) -> Option<std::time::Duration> {
    let started: DateTime<Utc> = job.started_at?;
    (started - job.created_at).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::retry_after_secs;

    #[test]
    fn retry_after_is_the_mean_run_shared_by_the_live_runs_within_bounds() {
        assert_eq!(retry_after_secs(None, 0), 10);
        assert_eq!(retry_after_secs(Some(30.0), 0), 30);
        assert_eq!(retry_after_secs(Some(30.0), 4), 8);
        assert_eq!(retry_after_secs(Some(0.01), 2), 1);
        assert_eq!(retry_after_secs(Some(5000.0), 1), 300);
        assert_eq!(retry_after_secs(Some(f64::NAN), 1), 10);
    }
}
