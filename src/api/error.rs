//! The one place where errors become HTTP responses, as JSend bodies:
//! `fail` with `data.message` for 4xx, `error` with `message` for 5xx.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// Everything a handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no key, an unknown key, or a key of another tenant's subdomain.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource for this tenant.
    #[error("{0}")]
    NotFound(String),
    /// 409: the resource is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// 413: the upload is over the limit.
    #[error("the file is larger than the {} MB limit", .limit / (1024 * 1024))]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// 429: the API key is over its rate limit; `Retry-After` says when to try again.
    #[error("too many requests for this API key; retry in {retry_after} s")]
    TooManyRequests {
        /// Whole seconds until a request is allowed again (at least 1).
        retry_after: u64,
    },
    /// 503: a dependency (queue, database) is unavailable; try again later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; details go to the log, not the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wraps an unexpected error; it is logged when the response is built.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::import::engine::is_transient_db_error(&error) {
            tracing::error!(%error, "database unavailable");
            Self::Unavailable("the database is unavailable; try again later".into())
        } else {
            Self::internal(error)
        }
    }
}

impl From<crate::jobs::submit::SubmitError> for ApiError {
    fn from(error: crate::jobs::submit::SubmitError) -> Self {
        match error {
            crate::jobs::submit::SubmitError::Database(e) => e.into(),
            crate::jobs::submit::SubmitError::Queue(_) => {
                Self::Unavailable("the job queue is unavailable; try the upload again later".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "status": "error", "message": "internal server error" })
            }
            Self::Unavailable(message) => json!({ "status": "error", "message": message }),
            other => json!({ "status": "fail", "data": { "message": other.to_string() } }),
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::TooManyRequests { retry_after } = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
