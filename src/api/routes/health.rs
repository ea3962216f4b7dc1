//! Liveness and readiness.

use axum::{Json, extract::State, response::IntoResponse};
use serde_json::{Value, json};

use crate::api::{AppState, error::ApiError, jsend};

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    jsend::success(json!({ "alive": true }))
}

/// `GET /readyz`: ready while Postgres answers (503 otherwise). Without Redis the API
/// still takes uploads (the reconciler enqueues them later), so a Redis outage reports
/// `degraded` instead of not ready.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
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
    Ok(jsend::success(json!({
        "postgres": "ok",
        "redis": redis,
        "degraded": degraded,
        "accepting_uploads": true,
    })))
}
