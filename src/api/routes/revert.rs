//! `POST /jobs/{id}/revert`: undo an import — a revert job of the same kind deletes the
//! rows the job created and restores the rows it changed (see `jobs::revert`).

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{jobs::tenant_job, uploads::flag};
use crate::{
    api::{
        AppState,
        auth::Caller,
        error::ApiError,
        extract::{Path, Query},
        jsend, openapi,
        views::{JobView, job_url},
    },
    jobs::revert::{self, RevertError, RevertOptions},
};

/// The revert's query parameters.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevertQuery {
    /// A dry run: count what the revert would do (`deleted_rows`, `restored_rows`,
    /// `conflict_rows` and the conflicts as failed rows) and change nothing (default
    /// false; `1`/`0`, `yes`/`no` also work).
    #[param(value_type = Option<bool>)]
    validate_only: Option<String>,
    /// Email the report of the conflicts when there are some (default: what the reverted
    /// job asked for; `1`/`0`, `yes`/`no` also work).
    #[param(value_type = Option<bool>)]
    send_error_email: Option<String>,
}

/// Undoes a job (admin keys): a new job of the same kind (`reverts_job_id` names this
/// one), run by the workers, deletes the rows this job created and sets the rows it
/// changed back to their values before it. Rows changed since by another job are left
/// alone and listed as its failed rows (code `changed_since`). A job is reverted once.
#[utoipa::path(
    post,
    path = "/jobs/{id}/revert",
    operation_id = "revert_job",
    tag = "jobs",
    params(
        ("id" = Uuid, Path, description = "The job to undo"),
        RevertQuery,
    ),
    responses(
        (status = 202, description = "The revert is queued: a new job that undoes this one", body = openapi::JobResponse, headers(
            ("Location" = String, description = "The revert job's URL"),
        )),
        (status = 400, description = "A query parameter is not valid", body = openapi::JSendFail),
        (status = 403, description = "The key is not an administrator's", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
        (status = 409, description = "The job cannot be reverted: it has not ended, is reverted already, is itself a revert or a dry run, or its kept changes are gone (older than REVERT_RETENTION_DAYS, or from before undo existed); the message says which", body = openapi::JSendFail),
        (status = 429, description = "The tenant has `tenant_max_queued` jobs waiting to run already (or the key is over its rate limit); nothing was kept", body = openapi::JSendFail, headers(
            ("Retry-After" = u64, description = "Seconds after which a request is likely accepted"),
        )),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<RevertQuery>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let options = RevertOptions {
        dry_run: flag(query.validate_only.as_deref(), "validate_only")?,
        send_error_email: match query.send_error_email.as_deref() {
            None => None,
            given => Some(flag(given, "send_error_email")?),
        },
    };
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let services = revert::Services {
        db: &state.db,
        queue: &state.queue,
        max_queued: state.settings.tenant_max_queued,
        retention_days: state.settings.revert_retention_days,
    };
    let revert = revert::submit(&services, &job, caller.user_id, options).await?;
    let base = state.settings.public_base();
    let location = job_url(base, revert.id);
    let view = JobView::of_one(&state.db, revert, base).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        jsend::success(view),
    ))
}

impl From<RevertError> for ApiError {
    fn from(error: RevertError) -> Self {
        match error {
            RevertError::NotEnded { .. }
            | RevertError::IsRevert { .. }
            | RevertError::DryRun { .. }
            | RevertError::Reverted { .. }
            | RevertError::NotKept { .. }
            | RevertError::Expired { .. } => Self::Conflict(error.to_string()),
            RevertError::QueueFull(full) => full.into(),
            RevertError::Database(e) => e.into(),
        }
    }
}
