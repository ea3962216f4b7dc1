//! Reading a tenant's contacts (the import writes them, see `import::contacts`).

use super::page::{KeysetPage, KeysetRequest};
use chrono::{DateTime, Utc};
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
    /// `lower(email)`, as Postgres lower-cases it: the list's order.
    pub email_key: String,
}

/// Which contacts to list; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContactFilter {
    /// Only this email (case-insensitive).
    pub email: Option<String>,
    /// Only contacts of this company (case-insensitive).
    pub company_name: Option<String>,
    /// Only contacts linked to this external Opportunity ID.
    pub opportunity_id: Option<String>,
    /// Only those created or changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only those whose email or one of their names matches this `ILIKE` pattern (see
    /// [`super::page::contains_pattern`]).
    pub name_or_email: Option<String>,
}

/// One page of contacts matching `filter`, ordered by email, case-insensitively (the
/// keyset: `after` is the lower-cased email of the row before the page). Each contact
/// carries the external ids of its opportunities, read for the page's rows only.
pub(crate) async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &ContactFilter,
    page: KeysetRequest<'_, String>,
) -> Result<KeysetPage<Contact>, sqlx::Error> {
    // Emails are never empty (the import refuses an empty one), so '' is before all.
    let after = page.after.map_or("", String::as_str);
    let rows = sqlx::query_as!(
        Contact,
        r#"SELECT c.id, c.email, c.fullname, c.first_name, c.last_name, c.title, c.company_name,
                  c.phone, c.mobile_phone,
                  ARRAY(SELECT o.external_opp_id
                          FROM contact_opportunities co
                          JOIN opportunities o ON o.id = co.opportunity_id
                         WHERE co.contact_id = c.id
                         ORDER BY o.external_opp_id) AS "opportunity_ids!",
                  lower(c.email) AS "email_key!"
             FROM contacts c
            WHERE c.tenant_id = $1 AND lower(c.email) > $2
              AND ($3::text IS NULL OR lower(c.email) = lower($3))
              AND ($4::text IS NULL OR lower(c.company_name) = lower($4))
              AND ($5::text IS NULL OR EXISTS (
                  SELECT 1 FROM contact_opportunities f JOIN opportunities fo ON fo.id = f.opportunity_id
                   WHERE f.contact_id = c.id AND fo.external_opp_id = $5))
              AND ($6::timestamptz IS NULL OR c.updated_at >= $6)
              AND ($7::text IS NULL OR c.email ILIKE $7 OR c.fullname ILIKE $7
                   OR c.first_name ILIKE $7 OR c.last_name ILIKE $7)
            ORDER BY lower(c.email)
            LIMIT $8 OFFSET $9"#,
        tenant_id,
        after,
        filter.email.as_deref(),
        filter.company_name.as_deref(),
        filter.opportunity_id.as_deref(),
        filter.updated_since,
        filter.name_or_email.as_deref(),
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

/// How many of the tenant's contacts match `filter`.
async fn count(pool: &PgPool, tenant_id: Uuid, filter: &ContactFilter) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!"
             FROM contacts c
            WHERE c.tenant_id = $1
              AND ($2::text IS NULL OR lower(c.email) = lower($2))
              AND ($3::text IS NULL OR lower(c.company_name) = lower($3))
              AND ($4::text IS NULL OR EXISTS (
                  SELECT 1 FROM contact_opportunities f JOIN opportunities fo ON fo.id = f.opportunity_id
                   WHERE f.contact_id = c.id AND fo.external_opp_id = $4))
              AND ($5::timestamptz IS NULL OR c.updated_at >= $5)
              AND ($6::text IS NULL OR c.email ILIKE $6 OR c.fullname ILIKE $6
                   OR c.first_name ILIKE $6 OR c.last_name ILIKE $6)"#,
        tenant_id,
        filter.email.as_deref(),
        filter.company_name.as_deref(),
        filter.opportunity_id.as_deref(),
        filter.updated_since,
        filter.name_or_email.as_deref(),
    )
    .fetch_one(pool)
    .await
}
