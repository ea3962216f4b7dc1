//! `POST /jobs/{id}/corrections`: the corrected failed rows of an ended job become a new
//! job of the same kind (see `jobs::corrections`).

use std::collections::BTreeMap;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::jobs::tenant_job;
use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{BoundedJson, Path},
        jsend, openapi,
        views::{JobView, job_url},
    },
    jobs::corrections::{self, CorrectionError},
};

/// The largest request body taken: 10,000 rows of a dozen short cells fit.
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The failed rows of a job, corrected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorrectionRequest {
    /// 1 to 10,000 rows, each line once.
    #[schema(min_items = 1, max_items = 10000)]
    rows: Vec<CorrectedRow>,
}

/// One failed row of the job with the cells to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorrectedRow {
    /// The row's `line`, as `GET /jobs/{id}/errors` (and the error CSV's `Line`) gives it.
    #[schema(example = 12)]
    line: i64,
    /// New values under the file's own header names (the keys of the failed row's
    /// `values`), at most 131,072 bytes each; a column not given keeps the row's value.
    #[serde(default)]
    #[schema(value_type = CorrectedValues, example = json!({"Amount": "80000"}))]
    values: BTreeMap<String, String>,
}

/// New cell values under the file's own header names (for the OpenAPI document, which
/// names it so that generated clients get a type of this name).
#[derive(ToSchema)]
#[allow(dead_code)]
struct CorrectedValues(std::collections::HashMap<String, String>);

/// Imports a job's failed rows again with the cells corrected (admin keys): a new job of
/// the same kind (`parent_job_id` names this one), imported like an upload.
#[utoipa::path(
    post,
    path = "/jobs/{id}/corrections",
    operation_id = "create_job_correction",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job whose failed rows are corrected")),
    request_body = CorrectionRequest,
    responses(
        (status = 202, description = "The correction is queued: a new job of the corrected rows", body = openapi::JobResponse, headers(
            ("Location" = String, description = "The new job's URL"),
        )),
        (status = 400, description = "The body is not valid: no rows or more than 10,000, a line given twice or not a failed row of the job, a column the file does not have, a value too long or with a NUL", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
        (status = 409, description = "The job has not ended yet, or has as many corrections as it may (100)", body = openapi::JSendFail),
        (status = 413, description = "The body is over 2 MB", body = openapi::JSendFail),
        (status = 415, description = "The body is not declared as JSON", body = openapi::JSendFail),
        (status = 429, description = "The tenant has `tenant_max_queued` jobs waiting to run already (or the key is over its rate limit); nothing was kept", body = openapi::JSendFail, headers(
            ("Retry-After" = u64, description = "Seconds after which a request is likely accepted"),
        )),
        (status = 507, description = "The file store is full; nothing was kept", body = openapi::JSendError),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    BoundedJson(request): BoundedJson<CorrectionRequest, MAX_BODY_BYTES>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let parent = tenant_job(&state, caller.tenant_id, &id).await?;
    let rows = request
        .rows
        .into_iter()
        .map(|row| corrections::CorrectedRow {
            line: row.line,
            values: row.values,
        })
        .collect();
    let services = corrections::Services {
        db: &state.db,
        queue: &state.queue,
        store: &state.store,
        max_queued: state.settings.tenant_max_queued,
        max_file_bytes: state.settings.max_upload_bytes + 2 * MAX_BODY_BYTES as u64,
    };
    let job = corrections::submit(&services, &parent, caller.user_id, rows).await?;
    let base = state.settings.public_base();
    let location = job_url(base, job.id);
    let view = JobView::of_one(&state.db, job, base).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        jsend::success(view),
    ))
}

impl From<CorrectionError> for ApiError {
    fn from(error: CorrectionError) -> Self {
        match error {
            CorrectionError::NotEnded { .. } | CorrectionError::TooManyCorrections { .. } => {
                Self::Conflict(error.to_string())
            }
            CorrectionError::NoRows
            | CorrectionError::TooManyRows { .. }
            | CorrectionError::DuplicateLine { .. }
            | CorrectionError::NotAFailedRow { .. }
            | CorrectionError::UnknownColumn { .. }
            | CorrectionError::ValueTooLong { .. }
            | CorrectionError::Nul { .. } => Self::BadRequest(error.to_string()),
            CorrectionError::QueueFull(full) => full.into(),
            CorrectionError::Store(e) => e.into(),
            CorrectionError::Database(e) => e.into(),
        }
    }
}
