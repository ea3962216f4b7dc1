//! Webhooks: the calls a tenant's registered endpoints get when one of its jobs ends.
//!
//! Postgres is the only truth. The transaction that ends a job also inserts one
//! `webhook_deliveries` row per endpoint of the tenant ([`owe_job_finished`]), so a crash
//! can lose no delivery; every worker runs [`delivery::run_forever`], which claims due
//! rows (`FOR UPDATE SKIP LOCKED` and a lease), posts them signed ([`signature`]) to URLs
//! that pass the SSRF rule ([`target`]) and records each attempt, retrying with backoff.

pub(crate) mod delivery;
pub(crate) mod secret;
pub(crate) mod signature;
pub(crate) mod target;

use sqlx::PgConnection;

use crate::{
    db,
    db::jobs::JobRecord,
    views::{JOB_FINISHED, JobView},
};

/// Owes every endpoint of the job's tenant a `job.finished` call whose body is the job as
/// `GET /jobs/{id}` shows it now. Call it in the transaction that ends the job.
pub(crate) async fn owe_job_finished(
    conn: &mut PgConnection,
    job: &JobRecord,
    public_base: &str,
) -> Result<u64, sqlx::Error> {
    let payload = serde_json::to_string(&JobView::new(job.clone(), public_base))
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    db::webhooks::insert_deliveries(conn, job.tenant_id, job.id, JOB_FINISHED, &payload).await
}
