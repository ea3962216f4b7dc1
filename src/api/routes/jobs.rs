//! The job history, one job, its error file, its unprocessed rows, and cancelling.

use axum::{
    body::Body,
    extract::{OriginalUri, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Path, Query},
        jsend, openapi,
        pagination::{PageQuery, Paged},
        views::JobView,
    },
    db::{self, Page, jobs::JobRecord},
    domain::{JobKind, JobState},
    jobs::unprocessed::{self, Unavailable},
    storage::ByteStream,
    webhooks,
};

/// Filters of the job history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobFilter {
    /// `opportunities`, `contacts` or `sales_targets`.
    #[param(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    #[param(value_type = Option<JobState>)]
    state: Option<String>,
    /// Only the jobs given this name at upload, matched exactly (same case, whole name)
    /// after trimming, as names are stored; empty means no filter.
    #[param(example = "Q3 pipeline")]
    name: Option<String>,
}

/// An optional filter; absent or empty means no filter, anything else must parse.
fn filter_value<T>(raw: Option<String>, name: &str, allowed: &str) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("{name}: {e}; use {allowed}")))
}

/// The tenant's jobs, newest first.
#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(PageQuery, JobFilter),
    responses(
        (status = 200, description = "A page of jobs, newest first", body = openapi::JobListResponse, headers(
            ("X-Total-Count" = i64, description = "How many jobs match the filters"),
            ("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"),
        )),
        (status = 400, description = "A paging value or a filter is not valid", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    OriginalUri(uri): OriginalUri,
    Query(page): Query<PageQuery>,
    Query(filter): Query<JobFilter>,
) -> Result<impl IntoResponse, ApiError> {
    let page = page.validate()?;
    let kind = filter_value::<JobKind>(
        filter.kind,
        "kind",
        "opportunities, contacts or sales_targets",
    )?;
    let job_state = filter_value::<JobState>(
        filter.state,
        "state",
        "queued, running, completed, failed or cancelled",
    )?;
    let name = filter
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let filter = db::jobs::ListFilter {
        kind,
        state: job_state,
        name,
    };
    let jobs = db::jobs::list(&state.db, caller.tenant_id, filter, page).await?;
    let base = state.settings.public_base();
    let views = Page {
        rows: JobView::with_jobs_ahead(&state.db, jobs.rows, base).await?,
        total: jobs.total,
    };
    Ok(Paged::new(page, views, base, &uri))
}

/// Cancels a job (admin keys): a queued job never runs (200, `cancelled`); a running one
/// stops at its next chunk boundary, keeping the rows it committed (202, still `running`).
#[utoipa::path(
    post,
    path = "/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The queued job is cancelled and will never run", body = openapi::JobResponse),
        (status = 202, description = "The running job stops at its next chunk; rows committed stay", body = openapi::JobResponse),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
        (status = 409, description = "The job has already ended", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let id = parse_id(&id)?;
    let base = state.settings.public_base();
    // A queued job ends right here: its webhook deliveries commit with the cancel.
    let mut tx = state.db.begin().await?;
    let cancelled = db::jobs::cancel(&mut *tx, caller.tenant_id, id).await?;
    if let Some(job) = cancelled.as_ref().filter(|job| job.state().is_terminal()) {
        webhooks::owe_job_finished(&mut tx, job, base).await?;
    }
    tx.commit().await?;
    match cancelled {
        Some(job) => {
            let status = if job.state().is_terminal() {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok((status, jsend::success(JobView::new(job, base))))
        }
        None => {
            let job = tenant_job(&state, caller.tenant_id, &id.to_string()).await?;
            Err(ApiError::Conflict(format!(
                "job {id} is already {}",
                job.state().as_str()
            )))
        }
    }
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no job {raw:?}")))
}

/// The caller's tenant's job `raw_id`; another tenant's job is as absent as a missing one.
pub(super) async fn tenant_job(
    state: &AppState,
    tenant_id: Uuid,
    raw_id: &str,
) -> Result<JobRecord, ApiError> {
    let id = parse_id(raw_id)?;
    db::jobs::get_for_tenant(&state.db, tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

/// One job of the caller's tenant.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    operation_id = "get_job",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = openapi::JobResponse),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let view = JobView::of_one(&state.db, job, state.settings.public_base()).await?;
    Ok(jsend::success(view))
}

/// The job's error CSV (UTF-8 with BOM), streamed from the file store.
#[utoipa::path(
    get,
    path = "/jobs/{id}/errors.csv",
    operation_id = "get_job_error_file",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The rows that failed, as uploaded, with an error column", content_type = "text/csv", body = String, headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"errors-<id>.csv\"`"),
        )),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant, or it has no error file (not ended, or no row failed)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn error_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let id = job.id;
    let no_file = || ApiError::NotFound(format!("job {id} has no error file"));
    if !job.state().is_terminal() || job.total_error_rows.unwrap_or(0) == 0 {
        return Err(no_file());
    }
    let Some(file) = state.store.error_file(id).await? else {
        return Err(no_file());
    };
    Ok(csv_attachment(
        file,
        "text/csv; charset=utf-8",
        format!("errors-{id}.csv"),
    ))
}

/// The rows a cancelled or failed job never got to: its header line and those rows, byte
/// for byte as uploaded (same encoding, delimiter and line breaks), to upload again.
#[utoipa::path(
    get,
    path = "/jobs/{id}/unprocessed.csv",
    operation_id = "get_job_unprocessed_file",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The header line and the rows the cancelled or failed job never got to, byte for byte as uploaded (the whole file when it read no row)", content_type = "text/csv", body = String, headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"unprocessed-<id>.csv\"`"),
        )),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant, or it has no unprocessed rows (it completed, or is still queued or running)", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn unprocessed_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let id = job.id;
    let file = unprocessed::file_of(&state.store, &job)
        .await
        .map_err(|e| match e {
            Unavailable::Store(e) => ApiError::from(e),
            other => ApiError::NotFound(other.to_string()),
        })?;
    // No charset: the bytes are the upload's own, in whatever encoding it used.
    Ok(csv_attachment(
        file,
        "text/csv",
        format!("unprocessed-{id}.csv"),
    ))
}

/// A CSV file of the store streamed as a download named `file_name`.
fn csv_attachment(
    file: ByteStream,
    content_type: &'static str,
    file_name: String,
) -> impl IntoResponse {
    let headers = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ),
    ];
    (headers, Body::from_stream(file))
}
