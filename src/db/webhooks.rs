//! Webhook endpoints and their deliveries. A delivery is owed from the transaction that
//! ends its job; workers claim due ones with `FOR UPDATE SKIP LOCKED` and a lease, so two
//! workers never send the same delivery at once and a worker that dies mid-send leaves it
//! due again once its lease lapses.

use super::page::{Page, PageRequest};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An endpoint as the API shows it: without its secret.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What registering an endpoint stores.
#[derive(Debug, Clone)]
pub(crate) struct NewEndpoint<'a> {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    /// The signing secret; stored because HMAC needs it, never read back by the API.
    pub secret: &'a str,
}

/// Why an endpoint was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InsertEndpointError {
    /// The tenant already has `limit` endpoints (or more, registered before the cap).
    #[error("the tenant already has {count} webhook endpoints")]
    LimitReached {
        /// Endpoints the tenant has.
        count: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Stores a new endpoint unless the tenant already has `max_per_tenant`. Race-safe: the
/// count and the insert run in one transaction that holds the tenant's row
/// (`FOR NO KEY UPDATE`), so two registrations of one tenant take turns and cannot both
/// pass the cap; other tenants and the tenant's other writes (which only take
/// `FOR KEY SHARE` on the row, through their foreign keys) are not held up.
pub(crate) async fn insert_endpoint(
    pool: &PgPool,
    endpoint: &NewEndpoint<'_>,
    max_per_tenant: i64,
) -> Result<Endpoint, InsertEndpointError> {
    let mut tx = pool.begin().await?;
    // No columns: only the row lock matters.
    sqlx::query!(
        "SELECT FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
        endpoint.tenant_id,
    )
    .execute(&mut *tx)
    .await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM webhook_endpoints WHERE tenant_id = $1"#,
        endpoint.tenant_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= max_per_tenant {
        return Err(InsertEndpointError::LimitReached { count });
    }
    let stored = sqlx::query_as!(
        Endpoint,
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, secret, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, url, description, created_at",
        Uuid::new_v4(),
        endpoint.tenant_id,
        endpoint.url,
        endpoint.description,
        endpoint.secret,
        endpoint.user_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// The tenant's endpoints, newest first, and how many there are.
pub(crate) async fn list_endpoints(
    pool: &PgPool,
    tenant_id: Uuid,
    page: PageRequest,
) -> Result<Page<Endpoint>, sqlx::Error> {
    page.read(|page| {
        sqlx::query!(
            r#"SELECT id, url, description, created_at,
                      (SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1) AS "total!"
                 FROM webhook_endpoints WHERE tenant_id = $1
                ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"#,
            tenant_id,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let endpoint = Endpoint {
                id: r.id,
                url: r.url,
                description: r.description,
                created_at: r.created_at,
            };
            (endpoint, r.total)
        })
        .fetch_all(pool)
    })
    .await
}

/// One endpoint, only when it belongs to `tenant_id`.
pub(crate) async fn get_endpoint(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as!(
        Endpoint,
        "SELECT id, url, description, created_at
           FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2",
        id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await
}

/// Deletes the tenant's endpoint with its deliveries (pending ones are never sent; one a
/// worker is sending right now finishes and finds nothing to record). False when absent.
pub(crate) async fn delete_endpoint(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2",
        id,
        tenant_id,
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Owes `event` with `payload` to every endpoint of the job's tenant. Runs inside the
/// transaction that ends the job, so a job never ends without its deliveries.
pub(crate) async fn insert_deliveries(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    event: &str,
    payload: &str,
) -> Result<u64, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, job_id, event, payload)
         SELECT gen_random_uuid(), e.id, $2, $3, $4
           FROM webhook_endpoints e
          WHERE e.tenant_id = $1
         ON CONFLICT (endpoint_id, job_id, event) DO NOTHING",
        tenant_id,
        job_id,
        event,
        payload,
    )
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected())
}

/// A delivery as `GET /webhooks/{id}/deliveries` lists it.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub id: Uuid,
    pub job_id: Uuid,
    pub event: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i32>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The endpoint's deliveries, newest first, and how many there are.
pub(crate) async fn list_deliveries(
    pool: &PgPool,
    endpoint_id: Uuid,
    page: PageRequest,
) -> Result<Page<Delivery>, sqlx::Error> {
    page.read(|page| {
        sqlx::query!(
            r#"SELECT id, job_id, event, state, attempts, next_attempt_at,
                      last_attempt_at, last_status_code, last_error, last_duration_ms,
                      delivered_at, created_at,
                      (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1) AS "total!"
                 FROM webhook_deliveries WHERE endpoint_id = $1
                ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"#,
            endpoint_id,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let delivery = Delivery {
                id: r.id,
                job_id: r.job_id,
                event: r.event,
                state: r.state,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_attempt_at: r.last_attempt_at,
                last_status_code: r.last_status_code,
                last_error: r.last_error,
                last_duration_ms: r.last_duration_ms,
                delivered_at: r.delivered_at,
                created_at: r.created_at,
            };
            (delivery, r.total)
        })
        .fetch_all(pool)
    })
    .await
}

/// A delivery a worker holds under `lease_token` until it records the attempt.
#[derive(Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub job_id: Uuid,
    pub event: String,
    pub payload: String,
    /// Attempts including this one.
    pub attempts: i32,
    pub lease_token: Uuid,
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for ClaimedDelivery {
    // By hand: the secret must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("id", &self.id)
            .field("job_id", &self.job_id)
            .field("event", &self.event)
            .field("attempts", &self.attempts)
            .field("url", &self.url)
            .field("secret", &"***")
            .finish_non_exhaustive()
    }
}

/// The advisory lock claims take turns under (ASCII "bi_whclm"), so that the count of a
/// tenant's deliveries in flight cannot change between reading it and claiming.
const CLAIM_LOCK: i64 = 0x6269_5f77_6863_6c6d;

/// Claims up to `limit` due deliveries for one attempt each: their attempt is counted
/// and they are not due again until `lease` has passed, so a worker that dies mid-send
/// leaves them to another one later.
///
/// Fair across tenants: a tenant never has more than `per_tenant` deliveries in flight
/// (claimed, lease not lapsed — across all workers), and claims go round the tenants —
/// every tenant's oldest due delivery, then every tenant's second, … — so a tenant with
/// a backlog of deliveries to slow or dead endpoints holds at most `per_tenant` sends
/// while the others' deliveries go out. Within a tenant the oldest due go first.
///
/// Claims of all workers take turns under an advisory lock (a short statement, once a
/// second or so per worker); rows a sender is recording are skipped, not waited for.
/// The work is one index probe per endpoint (endpoints are capped per tenant), not a
/// read of the pending backlog, which one tenant could make as long as it likes.
pub async fn claim_due(
    pool: &PgPool,
    lease: Duration,
    limit: i64,
    per_tenant: i64,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CLAIM_LOCK)
        .execute(&mut *tx)
        .await?;
    // With thousands of endpoints the plan's estimated cost crosses `jit_above_cost`, and
    // compiling it took longer (~0.3 s) than running it (~50 ms for 40,000 endpoints).
    sqlx::query!("SET LOCAL jit = off")
        .execute(&mut *tx)
        .await?;
    let claimed = sqlx::query_as!(
        ClaimedDelivery,
        r#"WITH in_flight AS (
             SELECT e.tenant_id, count(*) AS n
               FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
              WHERE d.state = 'pending' AND d.lease_token IS NOT NULL
                AND d.next_attempt_at > now()
              GROUP BY e.tenant_id
         ),
         heads AS (
             -- Each endpoint's oldest due deliveries: a tenant's `per_tenant` oldest are
             -- among them. One short index scan per endpoint, however long the backlog.
             SELECT e.tenant_id, h.id, h.next_attempt_at
               FROM webhook_endpoints e
              CROSS JOIN LATERAL (
                  SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                   WHERE d.endpoint_id = e.id AND d.state = 'pending'
                     AND d.next_attempt_at <= now()
                   ORDER BY d.next_attempt_at, d.id
                   LIMIT $4
              ) h
         ),
         ranked AS (
             SELECT id, next_attempt_at, tenant_id,
                    row_number() OVER (PARTITION BY tenant_id
                                       ORDER BY next_attempt_at, id) AS turn
               FROM heads
         ),
         fair AS (
             SELECT r.id, r.turn, r.next_attempt_at
               FROM ranked r LEFT JOIN in_flight f ON f.tenant_id = r.tenant_id
              WHERE r.turn + coalesce(f.n, 0) <= $4
              ORDER BY r.turn, r.next_attempt_at, r.id
              LIMIT $3
         ),
         due AS (
             SELECT d.id FROM webhook_deliveries d JOIN fair ON fair.id = d.id
              WHERE d.state = 'pending' AND d.next_attempt_at <= now()
              FOR UPDATE OF d SKIP LOCKED
         )
         UPDATE webhook_deliveries d
            SET attempts = d.attempts + 1, lease_token = $1, last_attempt_at = now(),
                next_attempt_at = now() + make_interval(secs => $2)
           FROM due, webhook_endpoints e
          WHERE d.id = due.id AND e.id = d.endpoint_id
      RETURNING d.id, d.job_id, d.event, d.payload, d.attempts, d.lease_token AS "lease_token!",
                e.url, e.secret"#,
        Uuid::new_v4(),
        lease.as_secs_f64(),
        limit,
        per_tenant,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptResult<'a> {
    /// `delivered`, `pending` (retry at `retry_in`) or `failed`.
    pub state: &'a str,
    pub status_code: Option<u16>,
    pub error: Option<&'a str>,
    pub duration: Duration,
    /// For `pending`: when to try again.
    pub retry_in: Duration,
}

/// Records an attempt, only while the caller's lease still holds the delivery (a worker
/// that took too long finds it claimed again, or its endpoint deleted, and changes
/// nothing). Returns whether it was recorded.
pub async fn record_attempt(
    pool: &PgPool,
    id: Uuid,
    lease_token: Uuid,
    result: &AttemptResult<'_>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE webhook_deliveries
            SET state = $3, last_status_code = $4, last_error = $5, last_duration_ms = $6,
                delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
                next_attempt_at = CASE WHEN $3 = 'pending'
                                       THEN now() + make_interval(secs => $7)
                                       ELSE next_attempt_at END,
                lease_token = NULL
          WHERE id = $1 AND lease_token = $2 AND state = 'pending'",
        id,
        lease_token,
        result.state,
        result.status_code.map(i32::from),
        result.error,
        i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX),
        result.retry_in.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}
