//! `GET /sales_targets` (JSON pages, or CSV with `Accept: text/csv`) and
//! `GET /sales_targets.csv`.

use axum::{
    extract::{OriginalUri, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    api::{
        AppState,
        auth::Caller,
        cursor::{self, CursorList},
        error::ApiError,
        export,
        extract::Query,
        listing::{self, CursorQuery, Start},
        openapi,
        pagination::{PageQuery, Paged},
        views::SalesTargetView,
    },
    db::{self, accounts::Principal, sales_targets::SalesTargetFilter},
    import::values,
};

/// Filters of the sales target list and its CSV; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TargetQuery {
    /// Only this rep's targets (exact email, case-insensitive).
    #[param(max_length = 320)]
    email: Option<String>,
    /// `me`: only the caller's own targets, those of the email of the key's user. Not
    /// together with `email`.
    #[param(pattern = "^me$", example = "me")]
    owner: Option<String>,
    /// First month, `2017-02` or any date in it.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2017-02")]
    month_from: Option<String>,
    /// Last month, `2017-12` or any date in it.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2017-12")]
    month_to: Option<String>,
    /// Only those created or changed by an import at or after this time (RFC 3339).
    #[param(format = DateTime, example = "2027-01-31T12:00:00Z")]
    updated_since: Option<String>,
}

impl TargetQuery {
    /// The checked filter; `owner=me` looks the caller's email up.
    async fn filter(
        self,
        state: &AppState,
        caller: &Principal,
    ) -> Result<SalesTargetFilter, ApiError> {
        let month = |name: &str, raw: Option<String>| {
            raw.filter(|s| !s.trim().is_empty())
                .map(|s| {
                    values::parse_month(&s, false)
                        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
                })
                .transpose()
        };
        Ok(SalesTargetFilter {
            email: listing::owner(&state.db, caller, self.owner, self.email, "email").await?,
            month_from: month("month_from", self.month_from)?,
            month_to: month("month_to", self.month_to)?,
            updated_since: listing::instant("updated_since", self.updated_since)?,
        })
    }
}

/// The tenant's sales targets matching the filters, a page at a time by month, then rep;
/// with `Accept: text/csv`, all of them as a CSV download.
#[utoipa::path(
    get,
    path = "/sales_targets",
    operation_id = "list_sales_targets",
    tag = "data",
    params(PageQuery, CursorQuery, TargetQuery),
    responses(
        (status = 200, description = "A page of sales targets (JSON), or with `Accept: text/csv` every matching one as the upload's CSV (as `/sales_targets.csv`)", headers(
            ("X-Total-Count" = i64, description = "How many match the filters; on pages not read by cursor"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page (by cursor), when there is one"),
        ), content(
            (openapi::SalesTargetListResponse = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A paging value, a month or another filter value is not valid (the message names it)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(page): Query<PageQuery>,
    Query(cursor): Query<CursorQuery>,
    Query(query): Query<TargetQuery>,
) -> Result<Response, ApiError> {
    if listing::wants_csv(&headers) {
        let filter = query.filter(&state, &caller).await?;
        return Ok(export::sales_targets(
            state.db.clone(),
            caller.tenant_id,
            filter,
        ));
    }
    let start = Start::parse(page, cursor, CursorList::SalesTargets, 2)?;
    let filter = query.filter(&state, &caller).await?;
    let after = match start.after.as_deref() {
        Some([month, email]) => Some((
            chrono::NaiveDate::parse_from_str(month, "%Y-%m-%d").map_err(|_| {
                ApiError::BadRequest("cursor is not valid: pass the cursor of a Link rel=\"next\" of this list unchanged".into())
            })?,
            email.clone(),
        )),
        _ => None,
    };
    let request = db::page::KeysetRequest {
        limit: start.limit,
        offset: start.offset,
        after: after.as_ref(),
        count: start.count(),
    };
    let rows = db::sales_targets::list(&state.db, caller.tenant_id, &filter, request).await?;
    let next = rows.rows.last().map(|t| {
        let month = t.month.format("%Y-%m-%d").to_string();
        cursor::encode(CursorList::SalesTargets, &[&month, &t.email_key])
    });
    let rows = rows.map(SalesTargetView::from);
    Ok(Paged::keyset(start.limit, rows, next, state.settings.public_base(), &uri).into_response())
}

/// Every sales target of the tenant matching the filters, as the upload's CSV (streamed).
#[utoipa::path(
    get,
    path = "/sales_targets.csv",
    operation_id = "export_sales_targets",
    tag = "data",
    params(TargetQuery),
    responses(
        (status = 200, description = "Every matching sales target, in the upload's columns (UTF-8 with BOM); uploads again unchanged", content_type = "text/csv", body = String, headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"sales_targets.csv\"`"),
        )),
        (status = 400, description = "A filter value is not valid (the message names it)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn export_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<TargetQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter(&state, &caller).await?;
    Ok(export::sales_targets(
        state.db.clone(),
        caller.tenant_id,
        filter,
    ))
}
