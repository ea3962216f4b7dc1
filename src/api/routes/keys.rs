//! The tenant's API keys: list, create (the secret shown once) and revoke. Admin keys manage
//! every key of their tenant; a member key sees, and may revoke, only itself.

use axum::{
    extract::{OriginalUri, State},
    http::StatusCode,
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{BoundedJson, Path, Query},
        jsend, openapi,
        pagination::{PageQuery, Paged},
        views::{ApiKeyView, CreatedApiKeyView},
    },
    db::{
        self,
        accounts::{CreateKeyError, KeyFilter, NewKey, TenantRevoke},
    },
    domain::{KeyRole, parse_expiry},
};

/// Active keys (neither revoked nor expired) one tenant may hold; far beyond what people
/// manage by hand, low enough that a leaked admin key cannot fill the table.
pub(crate) const MAX_ACTIVE_KEYS_PER_TENANT: i64 = 1000;
/// Longest label, in characters.
const MAX_LABEL_CHARS: usize = 100;
/// Longest email address (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Largest body of `POST /keys`: its few short fields fit many times over.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body of `POST /keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "CRM sync", "role": "member", "email": "ops@acme.example.com", "expires_at": "2027-06-30T00:00:00Z"}))]
pub(crate) struct NewApiKey {
    /// A name people recognise the key by: trimmed, 1 to 100 characters, no control
    /// characters.
    #[schema(min_length = 1, max_length = 100, example = "CRM sync")]
    label: String,
    /// What the key may do (default `member`).
    #[serde(default)]
    role: Option<KeyRole>,
    /// The key owner's email (error reports go there); default the caller's. A user of the
    /// caller's tenant is made for an email it does not know yet.
    #[serde(default)]
    #[schema(format = "email", max_length = 254, example = "ops@acme.example.com")]
    email: Option<String>,
    /// When the key stops working (RFC 3339): in the future, at most ten years ahead.
    /// Default: never.
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>, example = "2027-06-30T00:00:00Z")]
    expires_at: Option<String>,
}

/// The filter of `GET /keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeyListQuery {
    /// Also list revoked keys (default `false`: active and expired keys only).
    #[serde(default)]
    include_revoked: Option<bool>,
}

/// Creates a key for a user of the caller's tenant; the answer shows its secret, this once.
#[utoipa::path(
    post,
    path = "/keys",
    operation_id = "create_api_key",
    tag = "keys",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key, with its secret (shown only here)", body = openapi::CreatedApiKeyResponse),
        (status = 400, description = "The body is not valid: a field missing, too long or malformed, an email that is not one, an expiry not in the future or more than ten years ahead", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 409, description = "The tenant has 1000 active keys, the most it may; the message says so", body = openapi::JSendFail),
        (status = 413, description = "The body is over 16 KiB", body = openapi::JSendFail),
        (status = 415, description = "The body is not declared as JSON", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    BoundedJson(body): BoundedJson<NewApiKey, MAX_BODY_BYTES>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let label = body.label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::BadRequest(format!(
            "label must be 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "label must not contain control characters".into(),
        ));
    }
    let email = body
        .email
        .as_deref()
        .map_or(caller.email.as_str(), str::trim);
    if email.len() > MAX_EMAIL_LEN || !email_address::EmailAddress::is_valid(email) {
        return Err(ApiError::BadRequest(format!(
            "email must be an email address of at most {MAX_EMAIL_LEN} characters, not {:?}",
            truncate(email, 80)
        )));
    }
    let expires_at = body.expires_at.as_deref().map(expiry).transpose()?;
    let new = NewKey {
        tenant_id: caller.tenant_id,
        email,
        role: body.role.unwrap_or(KeyRole::Member),
        label: Some(label),
        expires_at,
        created_by: Some(caller.key_id),
    };
    let (record, secret) =
        db::accounts::create_tenant_key(&state.db, &new, MAX_ACTIVE_KEYS_PER_TENANT)
            .await
            .map_err(|e| match e {
                CreateKeyError::LimitReached { count } => ApiError::Conflict(format!(
                    "this tenant has {count} active API keys, the most it may have is \
                     {MAX_ACTIVE_KEYS_PER_TENANT}: revoke one before creating another"
                )),
                CreateKeyError::Db(e) => e.into(),
            })?;
    tracing::info!(api_key_id = %record.id, role = record.role.as_str(), "API key created");
    let created = CreatedApiKeyView::new(record.into(), secret.expose().to_owned());
    Ok((StatusCode::CREATED, jsend::success(created)))
}

/// The tenant's keys, newest first; a member key gets only itself.
#[utoipa::path(
    get,
    path = "/keys",
    operation_id = "list_api_keys",
    tag = "keys",
    params(PageQuery, KeyListQuery),
    responses(
        (status = 200, description = "A page of keys, newest first (never their secrets)", body = openapi::ApiKeyListResponse, headers(
            ("X-Total-Count" = i64, description = "How many keys the list holds"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "A paging value or `include_revoked` is not valid", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
    Query(query): Query<KeyListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let filter = KeyFilter {
        only: (!caller.is_admin).then_some(caller.key_id),
        include_revoked: query.include_revoked.unwrap_or(false),
    };
    let keys = db::accounts::list_tenant_keys(&state.db, caller.tenant_id, filter, page).await?;
    Ok(Paged::new(
        page,
        keys.map(ApiKeyView::from),
        state.settings.public_base(),
        &uri,
    ))
}

/// Revokes a key: it answers 401 from its next request on. The tenant's last active admin
/// key cannot be revoked (409), so that the tenant keeps a way to manage its keys.
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    operation_id = "revoke_api_key",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, revoked (now, or earlier when it already was)", body = openapi::ApiKeyResponse),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 403, description = "A member key asked to revoke a key other than itself", body = openapi::JSendFail),
        (status = 404, description = "No such key for this tenant", body = openapi::JSendFail),
        (status = 409, description = "It is the tenant's last active admin key; create another admin key first", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no API key {id:?}")))?;
    if !caller.is_admin && id != caller.key_id {
        return Err(ApiError::Forbidden(
            "a member key may revoke only itself; revoking other keys needs an administrator's key"
                .into(),
        ));
    }
    let record = match db::accounts::revoke_tenant_key(&state.db, caller.tenant_id, id).await? {
        TenantRevoke::Revoked(record) => {
            tracing::info!(api_key_id = %id, "API key revoked");
            record
        }
        TenantRevoke::Already(record) => record,
        TenantRevoke::LastAdmin => {
            return Err(ApiError::Conflict(
                "this is the tenant's last active admin key: revoking it would leave nobody \
                 able to manage keys; create another admin key first"
                    .into(),
            ));
        }
        TenantRevoke::NotFound => return Err(ApiError::NotFound(format!("no API key {id}"))),
    };
    Ok(jsend::success(ApiKeyView::from(record)))
}

/// `expires_at` as sent (see [`parse_expiry`]).
fn expiry(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    parse_expiry(raw, Utc::now()).map_err(|e| ApiError::BadRequest(format!("expires_at {e}")))
}

/// The first `max` characters of `text`, for quoting what was sent in a message.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
