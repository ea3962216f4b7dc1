//! The job history, one job, its error file, and cancelling.

use axum::{
    body::Body,
    extract::{OriginalUri, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Path, Query},
        jsend,
        pagination::PageQuery,
        views::JobView,
    },
    db::{self, jobs::JobRecord},
    domain::{JobKind, JobState},
    webhooks,
};

/// Filters of the job history.
#[derive(Debug, Deserialize)]
pub struct JobFilter {
    /// `opportunities`, `contacts` or `sales_targets`.
    kind: Option<String>,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    state: Option<String>,
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
pub async fn list(
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
    let (rows, total) = db::jobs::list(
        &state.db,
        caller.tenant_id,
        kind,
        job_state,
        page.limit,
        page.offset,
    )
    .await?;
    let base = state.settings.public_base();
    let headers = page.headers(base, &uri, rows.len(), total);
    let data: Vec<JobView> = rows
        .into_iter()
        .map(|job| JobView::new(job, base))
        .collect();
    Ok((headers, jsend::success(data)))
}

/// Cancels a job (admin keys): a queued job never runs (200, `cancelled`); a running one
/// stops at its next chunk boundary, keeping the rows it committed (202, still `running`).
pub async fn cancel(
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
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    Ok(jsend::success(JobView::new(
        job,
        state.settings.public_base(),
    )))
}

/// The job's error CSV (UTF-8 with BOM), streamed from the file store.
pub async fn error_file(
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
    let file = match tokio::fs::File::open(state.store.error_file_path(id)).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_file()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"errors-{id}.csv\""),
        ),
    ];
    Ok((headers, Body::from_stream(ReaderStream::new(file))))
}
