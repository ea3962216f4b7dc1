//! Reading a tenant's contacts (the import writes them, see `import::contacts`).

use super::page::{Page, PageRequest};
use sqlx::PgPool;
use uuid::Uuid;

/// One stored contact with the external ids of its opportunities.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
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
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    opportunity_id: Option<&str>,
    page: PageRequest,
) -> Result<Page<Contact>, sqlx::Error> {
    page.read(|page| {
        sqlx::query!(
            r#"SELECT c.id, c.email, c.fullname, c.first_name, c.last_name, c.title, c.company_name,
                      c.phone, c.mobile_phone,
                      COALESCE(array_agg(o.external_opp_id ORDER BY o.external_opp_id)
                               FILTER (WHERE o.id IS NOT NULL), '{}') AS "opportunity_ids!",
                      (SELECT count(*) FROM contacts n
                        WHERE n.tenant_id = $1 AND ($2::text IS NULL OR EXISTS (
                              SELECT 1 FROM contact_opportunities f
                                JOIN opportunities fo ON fo.id = f.opportunity_id
                               WHERE f.contact_id = n.id AND fo.external_opp_id = $2))
                      ) AS "total!"
                 FROM contacts c
                 LEFT JOIN contact_opportunities co ON co.contact_id = c.id
                 LEFT JOIN opportunities o ON o.id = co.opportunity_id
                WHERE c.tenant_id = $1 AND ($2::text IS NULL OR EXISTS (
                      SELECT 1 FROM contact_opportunities f JOIN opportunities fo ON fo.id = f.opportunity_id
                       WHERE f.contact_id = c.id AND fo.external_opp_id = $2))
                GROUP BY c.id
                ORDER BY lower(c.email)
                LIMIT $3 OFFSET $4"#,
            tenant_id,
            opportunity_id,
            page.limit,
            page.offset,
        )
        .map(|r| {
            let contact = Contact {
                id: r.id,
                email: r.email,
                fullname: r.fullname,
                first_name: r.first_name,
                last_name: r.last_name,
                title: r.title,
                company_name: r.company_name,
                phone: r.phone,
                mobile_phone: r.mobile_phone,
                opportunity_ids: r.opportunity_ids,
            };
            (contact, r.total)
        })
        .fetch_all(pool)
    })
    .await
}
