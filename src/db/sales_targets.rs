//! Reading a tenant's sales targets (the import writes them, see `import::sales_targets`).

use super::page::{Page, PageRequest};
use chrono::NaiveDate;
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
}

/// One page of targets ordered by month and rep, and the total count.
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &SalesTargetFilter,
    page: PageRequest,
) -> Result<Page<SalesTarget>, sqlx::Error> {
    page.read(|page| {
        sqlx::query!(
            r#"SELECT id, rep_email, month, amount,
                      (SELECT count(*) FROM sales_targets
                        WHERE tenant_id = $1
                          AND ($2::text IS NULL OR lower(rep_email) = lower($2))
                          AND ($3::date IS NULL OR month >= $3)
                          AND ($4::date IS NULL OR month <= $4)) AS "total!"
                 FROM sales_targets
                WHERE tenant_id = $1
                  AND ($2::text IS NULL OR lower(rep_email) = lower($2))
                  AND ($3::date IS NULL OR month >= $3)
                  AND ($4::date IS NULL OR month <= $4)
                ORDER BY month, lower(rep_email) LIMIT $5 OFFSET $6"#,
            tenant_id,
            filter.email.as_deref(),
            filter.month_from,
            filter.month_to,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let target = SalesTarget {
                id: r.id,
                rep_email: r.rep_email,
                month: r.month,
                amount: r.amount,
            };
            (target, r.total)
        })
        .fetch_all(pool)
    })
    .await
}
