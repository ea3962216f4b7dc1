//! The JSend envelopes, typed: handlers and [`super::error::ApiError`] answer with them, and
//! the OpenAPI document describes them (`api::openapi` names each `Success<…>` it uses).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// `"success"`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SuccessStatus {
    /// The request did what it asked.
    Success,
}

/// `{"status": "success", "data": …}`: the body of every JSON 2xx answer. Serialised
/// straight from `data`, so fields keep their declared order (a CSV header's order, say).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Success<T> {
    status: SuccessStatus,
    data: T,
}

impl<T> Success<T> {
    /// Wraps `data`.
    pub(crate) fn new(data: T) -> Self {
        Self {
            status: SuccessStatus::Success,
            data,
        }
    }
}

/// `{"status": "success", "data": data}` as a JSON response.
pub(crate) fn success<T>(data: T) -> Json<Success<T>> {
    Json(Success::new(data))
}

/// `"fail"`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailStatus {
    /// The request was refused (4xx).
    Fail,
}

/// `"error"`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorStatus {
    /// The server failed (5xx).
    Error,
}

/// The JSend body of every 4xx answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "fail", "data": {"message": "no job 3f1c…"}}))]
pub struct JSendFail {
    status: FailStatus,
    data: FailData,
}

impl JSendFail {
    /// A refusal that says `message`.
    pub fn new(message: &str) -> Self {
        Self {
            status: FailStatus::Fail,
            data: FailData {
                message: message.to_owned(),
            },
        }
    }
}

/// Why the request was refused.
#[derive(Serialize, ToSchema)]
pub struct FailData {
    /// A sentence for people.
    message: String,
}

/// The JSend body of every 5xx answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "error", "message": "internal server error"}))]
pub struct JSendError {
    status: ErrorStatus,
    /// A sentence for people; internals are logged, not sent.
    message: String,
}

impl JSendError {
    /// A failure that says `message`.
    pub fn new(message: &str) -> Self {
        Self {
            status: ErrorStatus::Error,
            message: message.to_owned(),
        }
    }
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
