//! Tenants, users and API keys.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Page, PageRequest};
use crate::domain::{ApiKey, KeyRole, TenantSlug};

/// The caller behind an API key.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The API key's id (rate limits are counted per key).
    pub key_id: Uuid,
    /// The key owner's user id.
    pub user_id: Uuid,
    /// The key owner's email.
    pub email: String,
    /// The key's own role (not its user's: a person may hold keys of both roles).
    pub role: KeyRole,
    /// Whether the key may upload, cancel and manage webhooks and keys (`role` is admin).
    pub is_admin: bool,
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// The tenant's subdomain label.
    pub tenant_slug: String,
}

/// What a presented key turned out to be.
#[derive(Debug, Clone)]
pub(crate) enum KeyLookup {
    /// A key that may be used now.
    Active(Principal),
    /// A key that is not revoked but stopped working at this time.
    Expired(DateTime<Utc>),
    /// No such key, or a revoked one (both answer alike, so nothing is learnt from it).
    Unknown,
}

/// How stale `last_used_at` may get: it is written at most once per this many seconds per
/// key, so that authenticating is not a write on every request.
pub(crate) const LAST_USED_PRECISION_SECS: f64 = 60.0;

/// Finds the key with this hash, unless revoked; records its use when the last record is
/// older than [`LAST_USED_PRECISION_SECS`]. Runs on every authenticated request: one read,
/// and about once a minute per key one conditional write (conditional, so concurrent
/// requests of one key do not all write).
pub(crate) async fn find_principal(pool: &PgPool, key: &ApiKey) -> Result<KeyLookup, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT k.id AS key_id, k.role, k.expires_at, k.last_used_at, now() AS "now!",
                  u.id AS user_id, u.email, t.id AS tenant_id, t.slug AS tenant_slug
             FROM api_keys k
             JOIN users u ON u.id = k.user_id
             JOIN tenants t ON t.id = u.tenant_id
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL"#,
        key.hash(),
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(KeyLookup::Unknown);
    };
    // Postgres' clock decides, as it does for every other time of a key.
    if let Some(expired) = row.expires_at.filter(|at| *at <= row.now) {
        return Ok(KeyLookup::Expired(expired));
    }
    let stale = row
        .last_used_at
        .is_none_or(|at| (row.now - at).as_seconds_f64() >= LAST_USED_PRECISION_SECS);
    if stale {
        record_use(pool, row.key_id).await?;
    }
    let role = parse_role(&row.role)?;
    Ok(KeyLookup::Active(Principal {
        key_id: row.key_id,
        user_id: row.user_id,
        email: row.email,
        role,
        is_admin: role == KeyRole::Admin,
        tenant_id: row.tenant_id,
        tenant_slug: row.tenant_slug,
    }))
}

/// Sets `last_used_at` to now unless another request did within the last minute.
async fn record_use(pool: &PgPool, key_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE api_keys SET last_used_at = now()
          WHERE id = $1
            AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
        key_id,
        LAST_USED_PRECISION_SECS,
    )
    .execute(pool)
    .await?;
    Ok(())
}

fn parse_role(role: &str) -> Result<KeyRole, sqlx::Error> {
    role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Whether the key with this id exists, is not revoked and has not expired (an open event
/// stream asks this now and then, so that revoking a key also ends its streams).
pub(crate) async fn key_is_active(pool: &PgPool, key_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
             SELECT 1 FROM api_keys
              WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           ) AS "active!""#,
        key_id,
    )
    .fetch_one(pool)
    .await
}

/// Creates the tenant and the user when missing, then a new key for that user (an admin
/// key when `admin`). `admin` also upgrades an existing user to admin; it never downgrades
/// one. For operators (`batch-import keys create`): no limit applies.
pub async fn create_key(
    pool: &PgPool,
    slug: &TenantSlug,
    email: &str,
    admin: bool,
) -> Result<ApiKey, sqlx::Error> {
    create_labelled_key(pool, slug, email, admin, None, None).await
}

/// [`create_key`] with a label for people to recognise the key by, and an expiry.
pub async fn create_labelled_key(
    pool: &PgPool,
    slug: &TenantSlug,
    email: &str,
    admin: bool,
    label: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ApiKey, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let key = insert_key(&mut tx, slug, email, admin, label, expires_at).await?;
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
    let key = insert_key(&mut tx, slug, email, true, None, None).await?;
    tx.commit().await?;
    Ok(Some(key))
}

/// The inserts of `create_key`, inside the caller's transaction.
async fn insert_key(
    tx: &mut PgConnection,
    slug: &TenantSlug,
    email: &str,
    admin: bool,
    label: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
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
    let new = NewKey {
        tenant_id,
        email,
        role: KeyRole::from_admin(admin),
        label,
        expires_at,
        created_by: None,
    };
    let (_, key) = insert_tenant_key(tx, &new).await?;
    Ok(key)
}

/// A key to make for a user of a tenant (the user is created when missing).
#[derive(Debug, Clone)]
pub(crate) struct NewKey<'a> {
    /// The tenant the key belongs to.
    pub tenant_id: Uuid,
    /// The key owner's email.
    pub email: &'a str,
    /// What the key may do.
    pub role: KeyRole,
    /// A name for people.
    pub label: Option<&'a str>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key that made this one; `None` for operators and the bootstrap.
    pub created_by: Option<Uuid>,
}

/// Inserts the user (when missing) and the key; returns the key's id and secret.
async fn insert_tenant_key(
    tx: &mut PgConnection,
    new: &NewKey<'_>,
) -> Result<(Uuid, ApiKey), sqlx::Error> {
    // An admin key makes its user an admin too (the user's flag is no longer what
    // authorizes, but it stays true to the keys the user was given).
    let user_id = sqlx::query_scalar!(
        "INSERT INTO users (id, tenant_id, email, is_admin) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, lower(email))
         DO UPDATE SET is_admin = users.is_admin OR EXCLUDED.is_admin
         RETURNING id",
        Uuid::new_v4(),
        new.tenant_id,
        new.email.trim(),
        new.role == KeyRole::Admin,
    )
    .fetch_one(&mut *tx)
    .await?;
    let key = ApiKey::generate();
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO api_keys
                (id, user_id, key_hash, key_prefix, role, label, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        user_id,
        key.hash(),
        key.display_prefix(),
        new.role.as_str(),
        new.label,
        new.expires_at,
        new.created_by,
    )
    .execute(&mut *tx)
    .await?;
    Ok((id, key))
}

/// Serialises the changes to one tenant's keys (creating against the limit, revoking
/// against the last admin), so that concurrent requests cannot together break either rule.
async fn lock_tenant_keys(tx: &mut PgConnection, tenant_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('batch-import api_keys ' || $1::text, 0))",
        tenant_id.to_string(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Why a key was not created through the API.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateKeyError {
    /// The tenant has `count` active keys, the most it may.
    #[error("the tenant has {count} active API keys")]
    LimitReached {
        /// Active keys (neither revoked nor expired).
        count: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates a key for a tenant's user, unless the tenant already has `max_active` active
/// keys (neither revoked nor expired); returns the key as listed and its secret.
pub(crate) async fn create_tenant_key(
    pool: &PgPool,
    new: &NewKey<'_>,
    max_active: i64,
) -> Result<(KeyRecord, ApiKey), CreateKeyError> {
    let mut tx = pool.begin().await?;
    lock_tenant_keys(&mut tx, new.tenant_id).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!"
             FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE u.tenant_id = $1 AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())"#,
        new.tenant_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= max_active {
        return Err(CreateKeyError::LimitReached { count });
    }
    let (id, key) = insert_tenant_key(&mut tx, new).await?;
    let record = get_tenant_key(&mut tx, new.tenant_id, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok((record, key))
}

/// A key as the API lists it: never the secret or its hash.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub id: Uuid,
    pub label: Option<String>,
    pub role: KeyRole,
    /// The key owner's email.
    pub email: String,
    /// The key's first characters (`bik_` and six more), not secret.
    pub prefix: String,
    /// The key that created it; `None` when an operator did (or the bootstrap).
    pub created_by: Option<Uuid>,
    /// The email of the owner of `created_by`.
    pub created_by_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which keys of a tenant to list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyFilter {
    /// Only this key (what a member key may see: itself).
    pub only: Option<Uuid>,
    /// Revoked keys too.
    pub include_revoked: bool,
}

/// A tenant's keys, newest first.
pub(crate) async fn list_tenant_keys(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: KeyFilter,
    page: PageRequest,
) -> Result<Page<KeyRecord>, sqlx::Error> {
    page.read(|page| async move {
        let rows = sqlx::query!(
            r#"SELECT k.id, k.label, k.role, u.email, k.key_prefix, k.created_by,
                      cu.email AS "created_by_email?", k.created_at, k.last_used_at,
                      k.expires_at, k.revoked_at,
                      (SELECT count(*)
                         FROM api_keys k2 JOIN users u2 ON u2.id = k2.user_id
                        WHERE u2.tenant_id = $1 AND ($2::uuid IS NULL OR k2.id = $2)
                          AND ($3 OR k2.revoked_at IS NULL)) AS "total!"
                 FROM api_keys k
                 JOIN users u ON u.id = k.user_id
                 LEFT JOIN api_keys ck ON ck.id = k.created_by
                 LEFT JOIN users cu ON cu.id = ck.user_id
                WHERE u.tenant_id = $1 AND ($2::uuid IS NULL OR k.id = $2)
                  AND ($3 OR k.revoked_at IS NULL)
                ORDER BY k.created_at DESC, k.id DESC LIMIT $4 OFFSET $5"#,
            tenant_id,
            filter.only,
            filter.include_revoked,
            page.limit,
            page.offset,
        )
        .fetch_all(pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let record = KeyRecord {
                    id: r.id,
                    label: r.label,
                    role: parse_role(&r.role)?,
                    email: r.email,
                    prefix: r.key_prefix,
                    created_by: r.created_by,
                    created_by_email: r.created_by_email,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at,
                    expires_at: r.expires_at,
                    revoked_at: r.revoked_at,
                };
                Ok((record, r.total))
            })
            .collect()
    })
    .await
}

/// One key of a tenant; another tenant's is as absent as a missing one.
pub(crate) async fn get_tenant_key(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT k.id, k.label, k.role, u.email, k.key_prefix, k.created_by,
                  cu.email AS "created_by_email?", k.created_at, k.last_used_at,
                  k.expires_at, k.revoked_at
             FROM api_keys k
             JOIN users u ON u.id = k.user_id
             LEFT JOIN api_keys ck ON ck.id = k.created_by
             LEFT JOIN users cu ON cu.id = ck.user_id
            WHERE u.tenant_id = $1 AND k.id = $2"#,
        tenant_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(KeyRecord {
            id: r.id,
            label: r.label,
            role: parse_role(&r.role)?,
            email: r.email,
            prefix: r.key_prefix,
            created_by: r.created_by,
            created_by_email: r.created_by_email,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    })
    .transpose()
}

/// What revoking a tenant's key through the API did.
#[derive(Debug, Clone)]
pub(crate) enum TenantRevoke {
    /// Revoked now.
    Revoked(KeyRecord),
    /// It had been revoked already (nothing changed).
    Already(KeyRecord),
    /// Refused: it is the tenant's last active admin key, and without one nobody of the
    /// tenant could make keys again.
    LastAdmin,
    /// The tenant has no key with this id.
    NotFound,
}

/// Revokes a tenant's key unless it is the tenant's last active admin key. The check and
/// the update run in one transaction under the tenant's key lock, so two admins revoking
/// each other's keys at once cannot leave the tenant without one.
pub(crate) async fn revoke_tenant_key(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<TenantRevoke, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_tenant_keys(&mut tx, tenant_id).await?;
    let target = sqlx::query!(
        r#"SELECT k.role, k.revoked_at,
                  (k.expires_at IS NULL OR k.expires_at > now()) AS "live!"
             FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE u.tenant_id = $1 AND k.id = $2"#,
        tenant_id,
        id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(target) = target else {
        return Ok(TenantRevoke::NotFound);
    };
    if target.revoked_at.is_none() {
        if target.live && parse_role(&target.role)? == KeyRole::Admin {
            // An expired admin key is no admin: it cannot sign in.
            let other_admins = sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!"
                     FROM api_keys k JOIN users u ON u.id = k.user_id
                    WHERE u.tenant_id = $1 AND k.id <> $2 AND k.role = 'admin'
                      AND k.revoked_at IS NULL
                      AND (k.expires_at IS NULL OR k.expires_at > now())"#,
                tenant_id,
                id,
            )
            .fetch_one(&mut *tx)
            .await?;
            if other_admins == 0 {
                return Ok(TenantRevoke::LastAdmin);
            }
        }
        sqlx::query!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    let record = get_tenant_key(&mut tx, tenant_id, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(if target.revoked_at.is_none() {
        TenantRevoke::Revoked(record)
    } else {
        TenantRevoke::Already(record)
    })
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
    /// Whether the key is an admin key.
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
        r#"SELECT k.id, t.slug AS tenant, u.email, k.role = 'admin' AS "is_admin!", k.created_at,
                k.revoked_at
           FROM api_keys k
           JOIN users u ON u.id = k.user_id
           JOIN tenants t ON t.id = u.tenant_id
          WHERE $1::text IS NULL OR t.slug = $1
          ORDER BY t.slug, k.created_at, k.id"#,
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
