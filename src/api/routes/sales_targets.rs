//! `GET /sales_targets`.

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
        views::SalesTargetView,
    },
    db::{self, sales_targets::SalesTargetFilter},
    import::values,
};

/// Filters of the sales target list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TargetQuery {
    /// Only this rep's targets.
    email: Option<String>,
    /// First month, `2017-02` or any date in it.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2017-02")]
    month_from: Option<String>,
    /// Last month, `2017-12` or any date in it.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2017-12")]
    month_to: Option<String>,
}

/// The tenant's sales targets, a page at a time.
#[utoipa::path(
    get,
    path = "/sales_targets",
    operation_id = "list_sales_targets",
    tag = "data",
    params(PageQuery, TargetQuery),
    responses(
        (status = 200, description = "A page of sales targets", body = openapi::SalesTargetListResponse, headers(
            ("X-Total-Count" = i64, description = "How many match the filters"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "A paging value or a month is not valid", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
    Query(query): Query<TargetQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let month = |name: &str, raw: Option<String>| {
        raw.filter(|s| !s.trim().is_empty())
            .map(|s| {
                values::parse_month(&s, false)
                    .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
            })
            .transpose()
    };
    let filter = SalesTargetFilter {
        email: query
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty()),
        month_from: month("month_from", query.month_from)?,
        month_to: month("month_to", query.month_to)?,
    };
    let rows = db::sales_targets::list(&state.db, caller.tenant_id, &filter, page).await?;
    let rows = rows.map(SalesTargetView::from);
    Ok(Paged::new(page, rows, state.settings.public_base(), &uri))
}
