//! Reading a tenant's opportunities (the import writes them, see `import::opportunities`).

use super::page::{KeysetPage, KeysetRequest};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// One stored opportunity.
#[derive(Debug, Clone)]
pub(crate) struct Opportunity {
    pub id: Uuid,
    pub active: bool,
    pub external_opp_id: String,
    pub name: String,
    pub external_account_id: Option<String>,
    pub account: Option<String>,
    pub amount: Option<Decimal>,
    pub close_date: Option<NaiveDate>,
    pub stage: Option<String>,
    pub forecast: Option<String>,
    pub activity_index: Option<i32>,
    pub relationship_index: Option<i32>,
    pub opp_type: Option<String>,
    pub website: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub next_step: Option<String>,
}

/// Which opportunities to list; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpportunityFilter {
    /// Only this stage (case-insensitive).
    pub stage: Option<String>,
    /// Only this owner's (case-insensitive).
    pub owner_email: Option<String>,
    /// Only those closing on or after this day.
    pub close_date_from: Option<NaiveDate>,
    /// Only those closing on or before this day.
    pub close_date_to: Option<NaiveDate>,
    /// Only those created or changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only those whose name or account matches this `ILIKE` pattern (see
    /// [`super::page::contains_pattern`]).
    pub name_or_account: Option<String>,
}

/// One page of a tenant's opportunities matching `filter`, ordered by external id (the
/// keyset: `after` is the external id of the row before the page).
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &OpportunityFilter,
    page: KeysetRequest<'_, String>,
) -> Result<KeysetPage<Opportunity>, sqlx::Error> {
    // External ids are never empty (the import refuses an empty one), so '' is before all.
    let after = page.after.map_or("", String::as_str);
    let rows = sqlx::query_as!(
        Opportunity,
        r#"SELECT id, active, external_opp_id, name, external_account_id, account, amount,
                  close_date, stage, forecast, activity_index, relationship_index,
                  type AS opp_type, website, owner_name, owner_email, next_step
             FROM opportunities
            WHERE tenant_id = $1 AND external_opp_id > $2
              AND ($3::text IS NULL OR lower(stage) = lower($3))
              AND ($4::text IS NULL OR lower(owner_email) = lower($4))
              AND ($5::date IS NULL OR close_date >= $5)
              AND ($6::date IS NULL OR close_date <= $6)
              AND ($7::timestamptz IS NULL OR updated_at >= $7)
              AND ($8::text IS NULL OR name ILIKE $8 OR account ILIKE $8)
            ORDER BY external_opp_id
            LIMIT $9 OFFSET $10"#,
        tenant_id,
        after,
        filter.stage.as_deref(),
        filter.owner_email.as_deref(),
        filter.close_date_from,
        filter.close_date_to,
        filter.updated_since,
        filter.name_or_account.as_deref(),
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

/// How many of the tenant's opportunities match `filter`.
async fn count(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &OpportunityFilter,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!"
             FROM opportunities
            WHERE tenant_id = $1
              AND ($2::text IS NULL OR lower(stage) = lower($2))
              AND ($3::text IS NULL OR lower(owner_email) = lower($3))
              AND ($4::date IS NULL OR close_date >= $4)
              AND ($5::date IS NULL OR close_date <= $5)
              AND ($6::timestamptz IS NULL OR updated_at >= $6)
              AND ($7::text IS NULL OR name ILIKE $7 OR account ILIKE $7)"#,
        tenant_id,
        filter.stage.as_deref(),
        filter.owner_email.as_deref(),
        filter.close_date_from,
        filter.close_date_to,
        filter.updated_since,
        filter.name_or_account.as_deref(),
    )
    .fetch_one(pool)
    .await
}
