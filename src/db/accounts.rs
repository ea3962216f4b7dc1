//! Tenants, users and API keys.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{ApiKey, TenantSlug};

/// The caller behind an API key.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The API key's id (rate limits are counted per key).
    pub key_id: Uuid,
    /// The key owner's user id.
    pub user_id: Uuid,
    /// Whether the user may upload.
    pub is_admin: bool,
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// The tenant's subdomain label.
    pub tenant_slug: String,
}

/// Finds the active key with this hash.
pub(crate) async fn find_principal(
    pool: &PgPool,
    key: &ApiKey,
) -> Result<Option<Principal>, sqlx::Error> {
    sqlx::query_as!(
        Principal,
        "SELECT k.id AS key_id, u.id AS user_id, u.is_admin, t.id AS tenant_id, t.slug AS tenant_slug
           FROM api_keys k
           JOIN users u ON u.id = k.user_id
           JOIN tenants t ON t.id = u.tenant_id
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        key.hash(),
    )
    .fetch_optional(pool)
    .await
}

/// Whether the key with this id exists and is not revoked (an open event stream asks
/// this now and then, so that revoking a key also ends its streams).
pub(crate) async fn key_is_active(pool: &PgPool, key_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL) AS "active!""#,
        key_id,
    )
    .fetch_one(pool)
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
    let key = insert_key(&mut tx, slug, email, admin).await?;
    tx.commit().await?;
    Ok(key)
}

/// Any constant unique to the bootstrap lock.
const BOOTSTRAP_LOCK: i64 = 0x6269_5f62_6f6f_7473; // "bi_boots"

/// Creates the first admin and its key, but only while no API key exists at all (a new
/// installation); `None` otherwise. Safe when several API processes start at once.
pub(crate) async fn create_first_admin(
    pool: &PgPool,
    slug: &TenantSlug,
    email: &str,
) -> Result<Option<ApiKey>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", BOOTSTRAP_LOCK)
        .execute(&mut *tx)
        .await?;
    let any = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM api_keys) AS "any!""#)
        .fetch_one(&mut *tx)
        .await?;
    if any {
        return Ok(None);
    }
    let key = insert_key(&mut tx, slug, email, true).await?;
    tx.commit().await?;
    Ok(Some(key))
}

/// The inserts of `create_key`, inside the caller's transaction.
async fn insert_key(
    tx: &mut sqlx::PgConnection,
    slug: &TenantSlug,
    email: &str,
    admin: bool,
) -> Result<ApiKey, sqlx::Error> {
    let tenant_id = sqlx::query_scalar!(
        "INSERT INTO tenants (id, slug) VALUES ($1, $2)
         ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
         RETURNING id",
        Uuid::new_v4(),
        slug.as_str(),
    )
    .fetch_one(&mut *tx)
    .await?;
    let user_id = sqlx::query_scalar!(
        "INSERT INTO users (id, tenant_id, email, is_admin) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, lower(email))
         DO UPDATE SET is_admin = users.is_admin OR EXCLUDED.is_admin
         RETURNING id",
        Uuid::new_v4(),
        tenant_id,
        email.trim(),
        admin,
    )
    .fetch_one(&mut *tx)
    .await?;
    let key = ApiKey::generate();
    sqlx::query!(
        "INSERT INTO api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)",
        Uuid::new_v4(),
        user_id,
        key.hash(),
        key.display_prefix(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(key)
}

/// The uploader's email and tenant slug of a job, for reports and log spans.
pub(crate) async fn job_owner(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query!(
        "SELECT u.email, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
        user_id,
    )
    .map(|r| (r.email, r.slug))
    .fetch_optional(pool)
    .await
}

/// A tenant's id by its slug.
pub async fn tenant_id(pool: &PgPool, slug: &TenantSlug) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug.as_str())
        .fetch_optional(pool)
        .await
}

/// An API key as `keys list` shows it: never the key or its hash.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The key's id (what `keys revoke` takes).
    pub id: Uuid,
    /// The tenant's slug.
    pub tenant: String,
    /// The key owner's email.
    pub email: String,
    /// Whether the owner may upload.
    pub is_admin: bool,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every key, or those of one tenant, oldest first.
pub async fn list_keys(
    pool: &PgPool,
    tenant: Option<&TenantSlug>,
) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as!(
        KeyInfo,
        "SELECT k.id, t.slug AS tenant, u.email, u.is_admin, k.created_at, k.revoked_at
           FROM api_keys k
           JOIN users u ON u.id = k.user_id
           JOIN tenants t ON t.id = u.tenant_id
          WHERE $1::text IS NULL OR t.slug = $1
          ORDER BY t.slug, k.created_at, k.id",
        tenant.map(TenantSlug::as_str),
    )
    .fetch_all(pool)
    .await
}

/// What `revoke_key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The key was active and is revoked from now on.
    Now(DateTime<Utc>),
    /// The key had been revoked already, at this time.
    Already(DateTime<Utc>),
    /// There is no key with this id.
    NotFound,
}

/// Revokes a key: from the next request on it answers 401 (keys are looked up on every
/// request, nothing caches them).
pub async fn revoke_key(pool: &PgPool, id: Uuid) -> Result<Revoked, sqlx::Error> {
    // Just set to now(), so never NULL.
    let revoked = sqlx::query_scalar!(
        r#"UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
         RETURNING revoked_at AS "revoked_at!""#,
        id,
    )
    .fetch_optional(pool)
    .await?;
    if let Some(at) = revoked {
        return Ok(Revoked::Now(at));
    }
    let earlier = sqlx::query_scalar!("SELECT revoked_at FROM api_keys WHERE id = $1", id)
        .fetch_optional(pool)
        .await?;
    Ok(match earlier {
        Some(Some(at)) => Revoked::Already(at),
        // No row (the UPDATE found none to revoke, so a row here has revoked_at set).
        _ => Revoked::NotFound,
    })
}

/// The email of a user (the owner of a key): what `owner=me` filters the lists by.
pub(crate) async fn user_email(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user_id)
        .fetch_optional(pool)
        .await
}
