//! Webhook endpoints of the caller's tenant and their deliveries (admin keys only).

use axum::{
    extract::{OriginalUri, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Json, Path, Query},
        jsend,
        pagination::PageQuery,
        views::{CreatedWebhookView, WebhookDeliveryView, WebhookView},
    },
    db::{self, webhooks::Endpoint},
    webhooks::{secret, target},
};

/// Longest description accepted, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The body of `POST /webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to post: `http` or `https`, no credentials, not a private address.
    url: String,
    /// A note for people.
    #[serde(default)]
    description: Option<String>,
}

/// Registers an endpoint; the answer shows its signing secret, this once.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(body): Json<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let url = target::parse(&body.url).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    target::check(&url, state.settings.webhook_allow_private_networks)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let description = body
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(d) = &description {
        if d.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ApiError::BadRequest(format!(
                "description must be at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        // Postgres text cannot hold NUL, and no note needs other control characters.
        if d.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ApiError::BadRequest(
                "description must not contain control characters".into(),
            ));
        }
    }
    let secret = secret::generate();
    let endpoint = db::webhooks::insert_endpoint(
        &state.db,
        &db::webhooks::NewEndpoint {
            tenant_id: caller.tenant_id,
            user_id: caller.user_id,
            url: url.as_str(),
            description: description.as_deref(),
            secret: &secret,
        },
    )
    .await?;
    tracing::info!(webhook_id = %endpoint.id, "webhook endpoint registered");
    let view = WebhookView::new(endpoint, state.settings.public_base());
    let location = [(header::LOCATION, view.self_url.clone())];
    let created = CreatedWebhookView {
        endpoint: view,
        secret,
    };
    Ok((StatusCode::CREATED, location, jsend::success(created)))
}

/// The tenant's endpoints, newest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let page = page.validate()?;
    let (rows, total) =
        db::webhooks::list_endpoints(&state.db, caller.tenant_id, page.limit, page.offset).await?;
    let base = state.settings.public_base();
    let headers = page.headers(base, &uri, rows.len(), total);
    let data: Vec<WebhookView> = rows
        .into_iter()
        .map(|e| WebhookView::new(e, base))
        .collect();
    Ok((headers, jsend::success(data)))
}

/// One endpoint of the tenant.
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let endpoint = tenant_endpoint(&state, caller.tenant_id, &id).await?;
    Ok(jsend::success(WebhookView::new(
        endpoint,
        state.settings.public_base(),
    )))
}

/// Deletes an endpoint; its pending deliveries are never sent.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    if !db::webhooks::delete_endpoint(&state.db, caller.tenant_id, id).await? {
        return Err(not_found(id));
    }
    tracing::info!(webhook_id = %id, "webhook endpoint deleted");
    Ok(jsend::success(serde_json::Value::Null))
}

/// The endpoint's deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let page = page.validate()?;
    let endpoint = tenant_endpoint(&state, caller.tenant_id, &id).await?;
    let (rows, total) =
        db::webhooks::list_deliveries(&state.db, endpoint.id, page.limit, page.offset).await?;
    let headers = page.headers(state.settings.public_base(), &uri, rows.len(), total);
    let data: Vec<WebhookDeliveryView> = rows.into_iter().map(Into::into).collect();
    Ok((headers, jsend::success(data)))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no webhook {raw:?}")))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no webhook {id}"))
}

/// The caller's tenant's endpoint `raw_id`; another tenant's is as absent as a missing one.
async fn tenant_endpoint(
    state: &AppState,
    tenant_id: Uuid,
    raw_id: &str,
) -> Result<Endpoint, ApiError> {
    let id = parse_id(raw_id)?;
    db::webhooks::get_endpoint(&state.db, tenant_id, id)
        .await?
        .ok_or_else(|| not_found(id))
}
