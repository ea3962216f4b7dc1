//! Liveness and readiness.

use axum::{Json, extract::State, response::IntoResponse};
use serde_json::Value;

use crate::api::{AppState, error::ApiError, jsend};

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    jsend::success(serde_json::json!({ "alive": true }))
}

/// `GET /readyz`: Postgres and Redis answer.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    sqlx::query("SELECT 1")
        .execute(&state.db)
        .await
        .map_err(|e| ApiError::Unavailable(format!("Postgres is not reachable: {e}")))?;
    state
        .queue
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("Redis is not reachable: {e}")))?;
    Ok(jsend::success(
        serde_json::json!({ "postgres": "ok", "redis": "ok" }),
    ))
}
