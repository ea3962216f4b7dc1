//! `GET /jobs/{id}/errors`: a job's failed rows as data, a page at a time.

use axum::{
    extract::{OriginalUri, State},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::jobs::tenant_job;
use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Path, Query},
        openapi,
        pagination::{PageQuery, Paged},
        views::JobErrorView,
    },
    db,
    domain::ProblemCode,
};

/// Filters of the failed rows.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ErrorFilter {
    /// Only rows with a problem of this code.
    #[param(value_type = Option<crate::domain::KnownProblemCode>)]
    code: Option<String>,
}

/// The job's failed rows in line order (those stored: at most `error_rows_stored_max`).
#[utoipa::path(
    get,
    path = "/jobs/{id}/errors",
    operation_id = "list_job_errors",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id"), PageQuery, ErrorFilter),
    responses(
        (status = 200, description = "A page of the job's failed rows, in line order (empty when none failed)", body = openapi::JobErrorListResponse, headers(
            ("X-Total-Count" = i64, description = "How many stored failed rows match the filter"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "The path, a paging value or the code is not valid", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
    Query(filter): Query<ErrorFilter>,
) -> Result<impl IntoResponse, ApiError> {
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let page = page.validate()?;
    let code = filter
        .code
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<ProblemCode>())
        .transpose()
        .map_err(|e| {
            let known = ProblemCode::ALL.map(ProblemCode::as_str).join(", ");
            ApiError::BadRequest(format!("code: {e}; use one of {known}"))
        })?;
    let rows = db::job_errors::list(&state.db, job.id, code, page).await?;
    let rows = rows.map(JobErrorView::from);
    Ok(Paged::new(page, rows, state.settings.public_base(), &uri))
}
