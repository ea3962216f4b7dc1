//! Liveness and readiness.

use axum::{Json, extract::State, response::IntoResponse};

use crate::{
    api::{AppState, error::ApiError, jsend, openapi},
    views::{Liveness, Readiness},
};

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = openapi::LivenessResponse)),
)]
pub(crate) async fn healthz() -> Json<openapi::LivenessResponse> {
    jsend::success(Liveness { alive: true })
}

/// `GET /readyz`: ready while Postgres answers (503 otherwise). Without Redis the API
/// still takes uploads (the reconciler enqueues them later), so a Redis outage reports
/// `degraded` instead of not ready.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Postgres answers; `degraded` while Redis does not", body = openapi::ReadinessResponse),
        (status = 503, description = "Postgres is not reachable", body = openapi::JSendError),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(format!("Postgres is not reachable: {e}")))?;
    let (redis, degraded) = match state.queue.ping().await {
        Ok(()) => ("ok".to_owned(), false),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: Redis is not reachable");
            (
                format!("unavailable ({e}); imports are delayed until it is back"),
                true,
            )
        }
    };
    Ok(jsend::success(Readiness {
        postgres: "ok".to_owned(),
        redis,
        degraded,
        accepting_uploads: true,
    }))
}
