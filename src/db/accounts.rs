//! Tenants, users and API keys.

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{ApiKey, TenantSlug};

/// The caller behind an API key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Principal {
    /// The API key's id (rate limits are counted per key).
    pub key_id: Uuid,
    /// The key owner's user id.
    pub user_id: Uuid,
    /// The key owner's email, where error reports go.
    pub email: String,
    /// Whether the user may upload.
    pub is_admin: bool,
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// The tenant's subdomain label.
    pub tenant_slug: String,
}

/// Finds the active key with this hash.
pub async fn find_principal(pool: &PgPool, key: &ApiKey) -> Result<Option<Principal>, sqlx::Error> {
    sqlx::query_as::<_, Principal>(
        "SELECT k.id AS key_id, u.id AS user_id, u.email, u.is_admin, t.id AS tenant_id, t.slug AS tenant_slug
           FROM api_keys k
           JOIN users u ON u.id = k.user_id
           JOIN tenants t ON t.id = u.tenant_id
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key.hash())
    .fetch_optional(pool)
    .await
}

/// Creates the tenant and the user when missing, then a new key for that user.
/// `admin` upgrades an existing user to admin; it never downgrades one.
pub async fn create_key(
    pool: &PgPool,
    slug: &TenantSlug,
    email: &str,
    admin: bool,
) -> Result<ApiKey, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let tenant_id: Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (id, slug) VALUES ($1, $2)
         ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(slug.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let user_id: Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, tenant_id, email, is_admin) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, lower(email))
         DO UPDATE SET is_admin = users.is_admin OR EXCLUDED.is_admin
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(email.trim())
    .bind(admin)
    .fetch_one(&mut *tx)
    .await?;
    let key = ApiKey::generate();
    sqlx::query("INSERT INTO api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::new_v4())
        .bind(user_id)
        .bind(key.hash())
        .bind(key.display_prefix())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(key)
}

/// The uploader's email and tenant slug of a job, for reports and log spans.
pub async fn job_owner(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.email, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// A tenant's id by its slug.
pub async fn tenant_id(pool: &PgPool, slug: &TenantSlug) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug.as_str())
        .fetch_optional(pool)
        .await
}
