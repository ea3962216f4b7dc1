//! `GET /contacts` (JSON pages, or CSV with `Accept: text/csv`) and `GET /contacts.csv`.

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
        views::ContactView,
    },
    db::{self, contacts::ContactFilter},
};

/// Filters of the contact list and its CSV; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContactQuery {
    /// Only contacts linked to this external Opportunity ID.
    #[param(max_length = 320)]
    opportunity_id: Option<String>,
    /// Only this email (exact, case-insensitive).
    #[param(max_length = 320)]
    email: Option<String>,
    /// Only contacts of this company (exact Company Name, case-insensitive).
    #[param(max_length = 320)]
    account: Option<String>,
    /// Only those created or changed by an import at or after this time (RFC 3339).
    #[param(format = DateTime, example = "2027-01-31T12:00:00Z")]
    updated_since: Option<String>,
    /// Only those whose email, full, first or last name contains this text
    /// (case-insensitive; `%` and `_` match themselves). At most 100 characters.
    #[param(max_length = 100)]
    q: Option<String>,
}

impl ContactQuery {
    /// The checked filter.
    fn filter(self) -> Result<ContactFilter, ApiError> {
        Ok(ContactFilter {
            email: listing::text("email", self.email, MAX_FILTER_LEN)?,
            company_name: listing::text("account", self.account, MAX_FILTER_LEN)?,
            opportunity_id: listing::text("opportunity_id", self.opportunity_id, MAX_FILTER_LEN)?,
            updated_since: listing::instant("updated_since", self.updated_since)?,
            name_or_email: listing::search(self.q)?,
        })
    }
}

/// The tenant's contacts matching the filters, a page at a time in the order of their
/// email; with `Accept: text/csv`, all of them as a CSV download.
#[utoipa::path(
    get,
    path = "/contacts",
    operation_id = "list_contacts",
    tag = "data",
    params(PageQuery, CursorQuery, ContactQuery),
    responses(
        (status = 200, description = "A page of contacts (JSON), or with `Accept: text/csv` every matching one as the upload's CSV (as `/contacts.csv`)", headers(
            ("X-Total-Count" = i64, description = "How many match the filters; on pages not read by cursor"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page (by cursor), when there is one"),
        ), content(
            (openapi::ContactListResponse = "application/json"),
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
    Query(query): Query<ContactQuery>,
) -> Result<Response, ApiError> {
    if listing::wants_csv(&headers) {
        let filter = query.filter()?;
        return Ok(export::contacts(state.db.clone(), caller.tenant_id, filter));
    }
    let start = Start::parse(page, cursor, CursorList::Contacts, 1)?;
    let filter = query.filter()?;
    let request = db::page::KeysetRequest {
        limit: start.limit,
        offset: start.offset,
        after: start.after.as_ref().and_then(|key| key.first()),
        count: start.count(),
    };
    let rows = db::contacts::list(&state.db, caller.tenant_id, &filter, request).await?;
    let next = rows
        .rows
        .last()
        .map(|c| cursor::encode(CursorList::Contacts, &[&c.email_key]));
    let rows = rows.map(ContactView::from);
    Ok(Paged::keyset(start.limit, rows, next, state.settings.public_base(), &uri).into_response())
}

/// Every contact of the tenant matching the filters, as the upload's CSV (streamed).
#[utoipa::path(
    get,
    path = "/contacts.csv",
    operation_id = "export_contacts",
    tag = "data",
    params(ContactQuery),
    responses(
        (status = 200, description = "Every matching contact, in the upload's columns (UTF-8 with BOM), one row per linked opportunity; uploads again unchanged", content_type = "text/csv", body = String, headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"contacts.csv\"`"),
        )),
        (status = 400, description = "A filter value is not valid (the message names it)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn export_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<ContactQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter()?;
    Ok(export::contacts(state.db.clone(), caller.tenant_id, filter))
}
