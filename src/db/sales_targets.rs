//! Reading a tenant's sales targets (the import writes them, see `import::sales_targets`).

use super::page::{Page, PageRequest};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// One stored sales target.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SalesTarget {
    pub id: Uuid,
    pub rep_email: String,
    pub month: NaiveDate,
    pub amount: Decimal,
}

/// Which targets to list.
#[derive(Debug, Clone, Default)]
pub struct SalesTargetFilter {
    /// Only this rep (case-insensitive).
    pub email: Option<String>,
    /// Only months from this one on (first day of a month).
    pub month_from: Option<NaiveDate>,
    /// Only months up to this one (first day of a month).
    pub month_to: Option<NaiveDate>,
}

/// One page of targets ordered by month and rep, and the total count.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &SalesTargetFilter,
    page: PageRequest,
) -> Result<Page<SalesTarget>, sqlx::Error> {
    const FILTER: &str = "tenant_id = $1
        AND ($2::text IS NULL OR lower(rep_email) = lower($2))
        AND ($3::date IS NULL OR month >= $3)
        AND ($4::date IS NULL OR month <= $4)";
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM sales_targets WHERE {FILTER}"
    ))
    .bind(tenant_id)
    .bind(&filter.email)
    .bind(filter.month_from)
    .bind(filter.month_to)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT id, rep_email, month, amount FROM sales_targets WHERE {FILTER}
          ORDER BY month, lower(rep_email) LIMIT $5 OFFSET $6"
    ))
    .bind(tenant_id)
    .bind(&filter.email)
    .bind(filter.month_from)
    .bind(filter.month_to)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(pool)
    .await?;
    Ok(Page { rows, total })
}
