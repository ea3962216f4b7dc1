//! The one place where errors become HTTP responses, as JSend bodies:
//! `fail` with `data.message` for 4xx, `error` with `message` for 5xx.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::jsend::{JSendError, JSendFail};

/// Seconds a client is asked to wait (`Retry-After`) while the service is in maintenance.
pub(crate) const MAINTENANCE_RETRY_AFTER_SECS: u64 = 300;

/// Seconds a client over its event stream limit is asked to wait (`Retry-After`).
pub(crate) const STREAMS_RETRY_AFTER_SECS: u64 = 5;

/// Everything a handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
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
    /// 413: a JSON body is over the route's bound (uploads have their own limit above).
    #[error("the request body is larger than the {limit} bytes this endpoint takes")]
    BodyTooLarge {
        /// The bound in bytes.
        limit: usize,
    },
    /// 415: the body is not of a type the route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 405: the route exists but not with this method; the router adds `Allow`.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 429: the API key is over its rate limit; `Retry-After` says when to try again.
    #[error("too many requests for this API key; retry in {retry_after} s")]
    TooManyRequests {
        /// Whole seconds until a request is allowed again (at least 1).
        retry_after: u64,
    },
    /// 429: the client's address failed to authenticate too often; its key was not even
    /// looked up. `Retry-After` says when to try again.
    #[error("too many failed authentications from this address; retry in {retry_after} s")]
    TooManyFailedAuthentications {
        /// Whole seconds until a request is allowed again (at least 1).
        retry_after: u64,
    },
    /// 429: the API key has as many event streams open as it may (`event_streams_per_key`).
    #[error(
        "this API key has {limit} event streams open already, the most it may; close one first"
    )]
    TooManyStreams {
        /// `event_streams_per_key`.
        limit: usize,
    },
    /// 429: the tenant has `tenant_max_queued` jobs queued already; nothing was kept.
    /// `Retry-After` estimates when one of its jobs will have started.
    #[error(
        "this account has {limit} imports waiting to run, the most it may have; the file was \
         not kept, upload it again in {retry_after} s or once one of them has started"
    )]
    QueueFull {
        /// `tenant_max_queued`.
        limit: u32,
        /// Whole seconds to wait (at least 1).
        retry_after: u64,
    },
    /// 503: a dependency (queue, database) is unavailable; try again later.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the service is in maintenance and accepts no uploads.
    #[error("the service is in maintenance and accepts no uploads now; try again later")]
    Maintenance,
    /// 507: the file store is full (or over its quota); nothing was kept.
    #[error("the file storage is full; the upload was not kept, try again later")]
    InsufficientStorage,
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
            Self::PayloadTooLarge { .. } | Self::BodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. }
            | Self::TooManyFailedAuthentications { .. }
            | Self::TooManyStreams { .. }
            | Self::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Maintenance => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wraps an unexpected error; it is logged when the response is built.
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_transient_error(&error) {
            tracing::error!(%error, "database unavailable");
            Self::Unavailable("the database is unavailable; try again later".into())
        } else {
            Self::internal(error)
        }
    }
}

impl From<crate::db::schedule::QueueFull> for ApiError {
    fn from(full: crate::db::schedule::QueueFull) -> Self {
        metrics::counter!(crate::prometheus::QUEUE_FULL_REFUSED).increment(1);
        Self::QueueFull {
            limit: full.limit,
            retry_after: full.retry_after,
        }
    }
}

impl From<crate::storage::StoreError> for ApiError {
    fn from(error: crate::storage::StoreError) -> Self {
        use crate::storage::StoreError;
        match error {
            StoreError::TooLarge { limit } => Self::PayloadTooLarge { limit },
            StoreError::Body(message) => Self::BadRequest(message),
            StoreError::Full(e) => {
                tracing::error!(error = %e, "file storage full");
                Self::InsufficientStorage
            }
            StoreError::Io(e) => Self::internal(e),
            StoreError::Remote(e) => {
                tracing::error!(error = %e, "object storage failed");
                Self::Unavailable("the file storage is unavailable; try again later".into())
            }
            StoreError::Config(message) => Self::internal(message),
        }
    }
}

/// The JSend body of an error: `fail` with `data.message` for 4xx, `error` with
/// `message` for 5xx. Also used by the layer that rewrites non-JSON error responses.
pub(crate) fn jsend_error(status: StatusCode, message: &str) -> Response {
    if status.is_server_error() {
        Json(JSendError::new(message)).into_response()
    } else {
        Json(JSendFail::new(message)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, jsend_error(status, &message)).into_response();
        let retry_after = match self {
            Self::Maintenance => Some(MAINTENANCE_RETRY_AFTER_SECS),
            Self::TooManyRequests { retry_after }
            | Self::TooManyFailedAuthentications { retry_after }
            | Self::QueueFull { retry_after, .. } => Some(retry_after),
            Self::TooManyStreams { .. } => Some(STREAMS_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use std::io;

    use super::*;
    use crate::storage::StoreError;

    #[test]
    fn a_full_disk_is_507_and_other_io_errors_stay_500() {
        for kind in [
            io::ErrorKind::StorageFull,
            io::ErrorKind::QuotaExceeded,
            io::ErrorKind::FileTooLarge,
        ] {
            let error = ApiError::from(StoreError::from(io::Error::from(kind)));
            assert!(matches!(error, ApiError::InsufficientStorage), "{kind:?}");
            assert_eq!(error.status(), StatusCode::INSUFFICIENT_STORAGE);
            assert!(error.to_string().contains("storage is full"));
        }
        // ENOSPC as the OS reports it.
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(matches!(
            ApiError::from(StoreError::from(enospc)),
            ApiError::InsufficientStorage
        ));
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(matches!(
            ApiError::from(StoreError::from(denied)),
            ApiError::Internal(_)
        ));
    }

    #[tokio::test]
    async fn server_errors_are_jsend_error_and_client_errors_jsend_fail() {
        let body = |response: Response| async {
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        };
        let full = ApiError::InsufficientStorage.into_response();
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        let json = body(full).await;
        assert_eq!(json["status"], "error");
        assert!(
            json["message"]
                .as_str()
                .unwrap()
                .contains("storage is full")
        );

        let maintenance = ApiError::Maintenance.into_response();
        assert_eq!(maintenance.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(maintenance.headers()[header::RETRY_AFTER], "300");
        assert!(
            body(maintenance).await["message"]
                .as_str()
                .unwrap()
                .contains("maintenance")
        );

        let json = body(ApiError::BadRequest("nope".into()).into_response()).await;
        assert_eq!(json, json!({"status": "fail", "data": {"message": "nope"}}));
    }
}
