//! `GET /contacts`.

use axum::{
    extract::{OriginalUri, State},
    response::IntoResponse,
};
use serde::Deserialize;

use crate::{
    api::{
        AppState, auth::Caller, error::ApiError, extract::Query, jsend, pagination::PageQuery,
        views::ContactView,
    },
    db,
};

/// Filters of the contact list.
#[derive(Debug, Deserialize)]
pub struct ContactFilter {
    /// Only contacts linked to this external Opportunity ID.
    opportunity_id: Option<String>,
}

/// The tenant's contacts, a page at a time.
pub async fn list(
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
    let (rows, total) = db::contacts::list(
        &state.db,
        caller.tenant_id,
        opportunity_id,
        page.limit,
        page.offset,
    )
    .await?;
    let headers = page.headers(state.settings.public_base(), &uri, rows.len(), total);
    let data: Vec<ContactView> = rows.into_iter().map(Into::into).collect();
    Ok((headers, jsend::success(data)))
}
