//! `GET /opportunities`.

use axum::{
    extract::{OriginalUri, State},
    response::IntoResponse,
};

use crate::{
    api::{
        AppState, auth::Caller, error::ApiError, extract::Query, jsend, pagination::PageQuery,
        views::OpportunityView,
    },
    db,
};

/// The tenant's opportunities, a page at a time.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let (rows, total) =
        db::opportunities::list(&state.db, caller.tenant_id, page.limit, page.offset).await?;
    let headers = page.headers(state.settings.public_base(), &uri, rows.len(), total);
    let data: Vec<OpportunityView> = rows.into_iter().map(Into::into).collect();
    Ok((headers, jsend::success(data)))
}
