//! `GET /opportunities` (JSON pages, or CSV with `Accept: text/csv`) and
//! `GET /opportunities.csv`.

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
        listing::{self, CursorQuery, MAX_FILTER_LEN, Start},
        openapi,
        pagination::{PageQuery, Paged},
        views::OpportunityView,
    },
    db::{self, accounts::Principal, opportunities::OpportunityFilter},
};

/// Filters of the opportunity list and its CSV; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OpportunityQuery {
    /// Only this stage (exact, case-insensitive).
    #[param(max_length = 320)]
    stage: Option<String>,
    /// Only this owner's opportunities (exact email, case-insensitive).
    #[param(max_length = 320)]
    owner_email: Option<String>,
    /// `me`: only the caller's own opportunities, those whose owner email is the email of
    /// the key's user ("Get My Opportunities"). Not together with `owner_email`.
    #[param(pattern = "^me$", example = "me")]
    owner: Option<String>,
    /// Only those closing on or after this day, `YYYY-MM-DD`.
    #[param(format = Date, example = "2027-01-01")]
    close_date_from: Option<String>,
    /// Only those closing on or before this day, `YYYY-MM-DD`.
    #[param(format = Date, example = "2027-12-31")]
    close_date_to: Option<String>,
    /// Only those created or changed by an import at or after this time (RFC 3339).
    #[param(format = DateTime, example = "2027-01-31T12:00:00Z")]
    updated_since: Option<String>,
    /// Only those whose name or account contains this text (case-insensitive; `%` and `_`
    /// match themselves). At most 100 characters.
    #[param(max_length = 100)]
    q: Option<String>,
}

impl OpportunityQuery {
    /// The checked filter; `owner=me` looks the caller's email up.
    async fn filter(
        self,
        state: &AppState,
        caller: &Principal,
    ) -> Result<OpportunityFilter, ApiError> {
        let (close_date_from, close_date_to) = listing::range(
            (
                "close_date_from",
                listing::day("close_date_from", self.close_date_from)?,
            ),
            (
                "close_date_to",
                listing::day("close_date_to", self.close_date_to)?,
            ),
        )?;
        Ok(OpportunityFilter {
            stage: listing::text("stage", self.stage, MAX_FILTER_LEN)?,
            owner_email: listing::owner(
                &state.db,
                caller,
                self.owner,
                self.owner_email,
                "owner_email",
            )
            .await?,
            close_date_from,
            close_date_to,
            updated_since: listing::instant("updated_since", self.updated_since)?,
            name_or_account: listing::search(self.q)?,
        })
    }
}

/// The tenant's opportunities matching the filters, a page at a time in the order of
/// their external id; with `Accept: text/csv`, all of them as a CSV download.
#[utoipa::path(
    get,
    path = "/opportunities",
    operation_id = "list_opportunities",
    tag = "data",
    params(PageQuery, CursorQuery, OpportunityQuery),
    responses(
        (status = 200, description = "A page of opportunities (JSON), or with `Accept: text/csv` every matching one as the upload's CSV (as `/opportunities.csv`)", headers(
            ("X-Total-Count" = i64, description = "How many match the filters; on pages not read by cursor"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page (by cursor), when there is one"),
        ), content(
            (openapi::OpportunityListResponse = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A paging or filter value is not valid (the message names it)", body = openapi::JSendFail),
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
    Query(query): Query<OpportunityQuery>,
) -> Result<Response, ApiError> {
    if listing::wants_csv(&headers) {
        let filter = query.filter(&state, &caller).await?;
        return Ok(export::opportunities(
            state.db.clone(),
            caller.tenant_id,
            filter,
        ));
    }
    let start = Start::parse(page, cursor, CursorList::Opportunities, 1)?;
    let filter = query.filter(&state, &caller).await?;
    let after = start.after.as_ref().and_then(|key| key.first());
    let request = db::page::KeysetRequest {
        limit: start.limit,
        offset: start.offset,
        after,
        count: start.count(),
    };
    let rows = db::opportunities::list(&state.db, caller.tenant_id, &filter, request).await?;
    let next = rows
        .rows
        .last()
        .map(|o| cursor::encode(CursorList::Opportunities, &[&o.external_opp_id]));
    let rows = rows.map(OpportunityView::from);
    Ok(Paged::keyset(start.limit, rows, next, state.settings.public_base(), &uri).into_response())
}

/// Every opportunity of the tenant matching the filters, as the upload's CSV (streamed).
#[utoipa::path(
    get,
    path = "/opportunities.csv",
    operation_id = "export_opportunities",
    tag = "data",
    params(OpportunityQuery),
    responses(
        (status = 200, description = "Every matching opportunity, in the upload's columns (UTF-8 with BOM); uploads again unchanged", content_type = "text/csv", body = String, headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"opportunities.csv\"`"),
        )),
        (status = 400, description = "A filter value is not valid (the message names it)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn export_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<OpportunityQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter(&state, &caller).await?;
    Ok(export::opportunities(
        state.db.clone(),
        caller.tenant_id,
        filter,
    ))
}
