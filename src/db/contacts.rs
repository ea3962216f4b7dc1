//! Reading a tenant's contacts (the import writes them, see `import::contacts`).

use super::page::{Page, PageRequest};
use sqlx::PgPool;
use uuid::Uuid;

/// One stored contact with the external ids of its opportunities.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Contact {
    pub id: Uuid,
    pub email: String,
    pub fullname: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company_name: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub opportunity_ids: Vec<String>,
}

/// One page of contacts ordered by email, optionally only those linked to the external
/// Opportunity ID `opportunity_id`, and the total count.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    opportunity_id: Option<&str>,
    page: PageRequest,
) -> Result<Page<Contact>, sqlx::Error> {
    const FILTER: &str = "c.tenant_id = $1 AND ($2::text IS NULL OR EXISTS (
            SELECT 1 FROM contact_opportunities f JOIN opportunities fo ON fo.id = f.opportunity_id
             WHERE f.contact_id = c.id AND fo.external_opp_id = $2))";
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM contacts c WHERE {FILTER}"))
        .bind(tenant_id)
        .bind(opportunity_id)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT c.id, c.email, c.fullname, c.first_name, c.last_name, c.title, c.company_name,
                c.phone, c.mobile_phone,
                COALESCE(array_agg(o.external_opp_id ORDER BY o.external_opp_id)
                         FILTER (WHERE o.id IS NOT NULL), '{{}}') AS opportunity_ids
           FROM contacts c
           LEFT JOIN contact_opportunities co ON co.contact_id = c.id
           LEFT JOIN opportunities o ON o.id = co.opportunity_id
          WHERE {FILTER}
          GROUP BY c.id
          ORDER BY lower(c.email)
          LIMIT $3 OFFSET $4"
    ))
    .bind(tenant_id)
    .bind(opportunity_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(pool)
    .await?;
    Ok(Page { rows, total })
}
