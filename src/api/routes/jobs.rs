//! `GET /jobs/{id}` and its error file.

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::IntoResponse,
};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use crate::{
    api::{AppState, auth::Caller, error::ApiError, jsend, views::JobView},
    db,
};

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no job {raw:?}")))
}

/// One job of the caller's tenant.
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = parse_id(&id)?;
    let job = db::jobs::get_for_tenant(&state.db, caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
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
    let id = parse_id(&id)?;
    let job = db::jobs::get_for_tenant(&state.db, caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
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
