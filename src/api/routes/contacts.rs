//! `GET /contacts`.

use axum::{
    extract::{OriginalUri, State},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::Query,
        openapi,
        pagination::{PageQuery, Paged},
        views::ContactView,
    },
    db,
};

/// Filters of the contact list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContactFilter {
    /// Only contacts linked to this external Opportunity ID.
    opportunity_id: Option<String>,
}

/// The tenant's contacts, a page at a time.
#[utoipa::path(
    get,
    path = "/contacts",
    operation_id = "list_contacts",
    tag = "data",
    params(PageQuery, ContactFilter),
    responses(
        (status = 200, description = "A page of contacts", body = openapi::ContactListResponse, headers(
            ("X-Total-Count" = i64, description = "How many match the filter"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "A paging value is not valid", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
    Query(filter): Query<ContactFilter>,
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let opportunity_id = filter
        .opportunity_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let rows = db::contacts::list(&state.db, caller.tenant_id, opportunity_id, page).await?;
    let rows = rows.map(ContactView::from);
    Ok(Paged::new(page, rows, state.settings.public_base(), &uri))
}
