//! `GET /opportunities`.

use axum::{
    extract::{OriginalUri, State},
    response::IntoResponse,
};

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::Query,
        openapi,
        pagination::{PageQuery, Paged},
        views::OpportunityView,
    },
    db,
};

/// The tenant's opportunities, a page at a time.
#[utoipa::path(
    get,
    path = "/opportunities",
    operation_id = "list_opportunities",
    tag = "data",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of opportunities", body = openapi::OpportunityListResponse, headers(
            ("X-Total-Count" = i64, description = "How many there are"),
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
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let rows = db::opportunities::list(&state.db, caller.tenant_id, page).await?;
    let rows = rows.map(OpportunityView::from);
    Ok(Paged::new(page, rows, state.settings.public_base(), &uri))
}
