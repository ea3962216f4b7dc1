//! The JSend success envelope, typed: handlers answer with it and the OpenAPI document
//! describes it (`api::openapi` names each `Success<…>` the document uses).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `"success"`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SuccessStatus {
    /// The request did what it asked.
    Success,
}

/// `{"status": "success", "data": …}`: the body of every JSON 2xx answer. Serialised
/// straight from `data`, so fields keep their declared order (a CSV header's order, say).
#[derive(Debug, Clone, Serialize)]
pub struct Success<T> {
    status: SuccessStatus,
    data: T,
}

impl<T> Success<T> {
    /// Wraps `data`.
    pub fn new(data: T) -> Self {
        Self {
            status: SuccessStatus::Success,
            data,
        }
    }
}

/// `{"status": "success", "data": data}` as a JSON response.
pub fn success<T>(data: T) -> Json<Success<T>> {
    Json(Success::new(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_status_then_data() {
        let body = serde_json::to_string(&Success::new(serde_json::json!({"b": 1}))).unwrap();
        assert_eq!(body, r#"{"status":"success","data":{"b":1}}"#);
        let body = serde_json::to_string(&Success::new(())).unwrap();
        assert_eq!(body, r#"{"status":"success","data":null}"#);
    }
}
