//! Reading a tenant's sales targets (the import writes them, see `import::sales_targets`).

use super::page::{KeysetPage, KeysetRequest};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// One stored sales target.
#[derive(Debug, Clone)]
pub(crate) struct SalesTarget {
    pub id: Uuid,
    pub rep_email: String,
    pub month: NaiveDate,
    pub amount: Decimal,
    /// `lower(rep_email)`, as Postgres lower-cases it: the list's order within a month.
    pub email_key: String,
}

/// Which targets to list.
#[derive(Debug, Clone, Default)]
pub(crate) struct SalesTargetFilter {
    /// Only this rep (case-insensitive).
    pub email: Option<String>,
    /// Only months from this one on (first day of a month).
    pub month_from: Option<NaiveDate>,
    /// Only months up to this one (first day of a month).
    pub month_to: Option<NaiveDate>,
    /// Only those created or changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
}

/// One page of targets matching `filter`, ordered by month, then rep (case-insensitive):
/// the keyset, `after`, is the month and lower-cased email of the row before the page.
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &SalesTargetFilter,
    page: KeysetRequest<'_, (NaiveDate, String)>,
) -> Result<KeysetPage<SalesTarget>, sqlx::Error> {
    // Postgres has no day before 4713 BC and every email sorts after '': a key before all.
    let before_all = NaiveDate::from_ymd_opt(-4712, 1, 1).unwrap_or_default();
    let (after_month, after_email) = page
        .after
        .map_or((before_all, ""), |(month, email)| (*month, email.as_str()));
    let rows = sqlx::query_as!(
        SalesTarget,
        r#"SELECT id, rep_email, month, amount, lower(rep_email) AS "email_key!"
             FROM sales_targets
            WHERE tenant_id = $1
              AND (month, lower(rep_email)) > ($2, $3)
              AND ($4::text IS NULL OR lower(rep_email) = lower($4))
              AND ($5::date IS NULL OR month >= $5)
              AND ($6::date IS NULL OR month <= $6)
              AND ($7::timestamptz IS NULL OR updated_at >= $7)
            ORDER BY month, lower(rep_email)
            LIMIT $8 OFFSET $9"#,
        tenant_id,
        after_month,
        after_email,
        filter.email.as_deref(),
        filter.month_from,
        filter.month_to,
        filter.updated_since,
        page.limit + 1,
        page.offset,
    )
    .fetch_all(pool)
    .await?;
    let total = if page.count {
        Some(count(pool, tenant_id, filter).await?)
    } else {
        None
    };
    Ok(KeysetPage::of(rows, page.limit, total))
}

/// How many of the tenant's targets match `filter`.
async fn count(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &SalesTargetFilter,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!"
             FROM sales_targets
            WHERE tenant_id = $1
              AND ($2::text IS NULL OR lower(rep_email) = lower($2))
              AND ($3::date IS NULL OR month >= $3)
              AND ($4::date IS NULL OR month <= $4)
              AND ($5::timestamptz IS NULL OR updated_at >= $5)"#,
        tenant_id,
        filter.email.as_deref(),
        filter.month_from,
        filter.month_to,
        filter.updated_since,
    )
    .fetch_one(pool)
    .await
}
