//! JSend success bodies.

use axum::Json;
use serde::Serialize;
use serde_json::{Value, json};

/// `{"status": "success", "data": …}`.
pub fn success<T: Serialize>(data: T) -> Json<Value> {
    Json(json!({ "status": "success", "data": data }))
}
