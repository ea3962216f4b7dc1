//! Reading a tenant's opportunities (the import writes them, see `import::opportunities`).

use super::page::{Page, PageRequest};
use chrono::NaiveDate;
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

/// One page of a tenant's opportunities, ordered by external id, and the total count.
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    page: PageRequest,
) -> Result<Page<Opportunity>, sqlx::Error> {
    page.read(|page| {
        sqlx::query!(
            r#"SELECT id, active, external_opp_id, name, external_account_id, account, amount,
                      close_date, stage, forecast, activity_index, relationship_index, type,
                      website, owner_name, owner_email, next_step,
                      (SELECT count(*) FROM opportunities WHERE tenant_id = $1) AS "total!"
                 FROM opportunities
                WHERE tenant_id = $1
                ORDER BY external_opp_id
                LIMIT $2 OFFSET $3"#,
            tenant_id,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let opportunity = Opportunity {
                id: r.id,
                active: r.active,
                external_opp_id: r.external_opp_id,
                name: r.name,
                external_account_id: r.external_account_id,
                account: r.account,
                amount: r.amount,
                close_date: r.close_date,
                stage: r.stage,
                forecast: r.forecast,
                activity_index: r.activity_index,
                relationship_index: r.relationship_index,
                opp_type: r.r#type,
                website: r.website,
                owner_name: r.owner_name,
                owner_email: r.owner_email,
                next_step: r.next_step,
            };
            (opportunity, r.total)
        })
        .fetch_all(pool)
    })
    .await
}
