//! Webhook endpoints of the caller's tenant and their deliveries (admin keys only).

use axum::{
    extract::{OriginalUri, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Json, Path, Query},
        jsend, openapi,
        pagination::{PageQuery, Paged},
        views::{CreatedWebhookView, WebhookDeliveryView, WebhookView},
    },
    db::{
        self,
        webhooks::{Endpoint, InsertEndpointError},
    },
    webhooks::{secret, target},
};

/// Longest description accepted, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The body of `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://example.com/hooks/batch-import", "description": "CRM sync"}))]
pub(crate) struct NewWebhook {
    /// Where to post: `http` or `https`, without credentials, not a private address.
    #[schema(
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://example.com/hooks/batch-import"
    )]
    url: String,
    /// A note for people (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    description: Option<String>,
}

/// Registers an endpoint; the answer shows its signing secret, this once.
#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown only here)", body = openapi::CreatedWebhookResponse, headers(
            ("Location" = String, description = "The endpoint's URL"),
        )),
        (status = 400, description = "The body is not valid, or the URL is refused (scheme, credentials, a private address, does not resolve)", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 409, description = "The tenant already has as many endpoints as it may (`WEBHOOK_MAX_ENDPOINTS`, 20 by default); the message names the limit", body = openapi::JSendFail),
        (status = 415, description = "The body is not declared as JSON", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn create(
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
    let max = state.settings.webhook_max_endpoints;
    let endpoint = db::webhooks::insert_endpoint(
        &state.db,
        &db::webhooks::NewEndpoint {
            tenant_id: caller.tenant_id,
            user_id: caller.user_id,
            url: url.as_str(),
            description: description.as_deref(),
            secret: &secret,
        },
        i64::from(max),
    )
    .await
    .map_err(|e| match e {
        InsertEndpointError::LimitReached { count } => ApiError::Conflict(format!(
            "this tenant has {count} webhook endpoints, the limit is {max} \
             (WEBHOOK_MAX_ENDPOINTS): delete one before registering another"
        )),
        InsertEndpointError::Db(e) => e.into(),
    })?;
    tracing::info!(webhook_id = %endpoint.id, "webhook endpoint registered");
    let view = WebhookView::new(endpoint, state.settings.public_base());
    let location = [(header::LOCATION, view.self_url.clone())];
    let created = CreatedWebhookView::new(view, secret);
    Ok((StatusCode::CREATED, location, jsend::success(created)))
}

/// The tenant's endpoints, newest first.
#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of endpoints, newest first", body = openapi::WebhookListResponse, headers(
            ("X-Total-Count" = i64, description = "How many endpoints the tenant has"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "A paging value is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let page = page.validate()?;
    let endpoints = db::webhooks::list_endpoints(&state.db, caller.tenant_id, page).await?;
    let base = state.settings.public_base();
    let views = endpoints.map(|e| WebhookView::new(e, base));
    Ok(Paged::new(page, views, base, &uri))
}

/// One endpoint of the tenant.
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = openapi::WebhookResponse),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such endpoint for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn get(
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
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "Deleted, with its deliveries", body = openapi::DeletedResponse),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such endpoint for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn delete(
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
    Ok(jsend::success(()))
}

/// The endpoint's deliveries, newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id"), PageQuery),
    responses(
        (status = 200, description = "A page of deliveries, newest first", body = openapi::WebhookDeliveryListResponse, headers(
            ("X-Total-Count" = i64, description = "How many deliveries the endpoint has"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "The path or a paging value is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such endpoint for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let page = page.validate()?;
    let endpoint = tenant_endpoint(&state, caller.tenant_id, &id).await?;
    let deliveries = db::webhooks::list_deliveries(&state.db, endpoint.id, page).await?;
    let views = deliveries.map(WebhookDeliveryView::from);
    Ok(Paged::new(page, views, state.settings.public_base(), &uri))
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
