//! Route handlers, one file per resource.

pub mod contacts;
pub mod dashboard;
pub mod health;
pub mod job_errors;
pub mod job_events;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod opportunities;
pub mod sales_targets;
pub mod uploads;
pub mod webhooks;

use axum::{extract::OriginalUri, http::Method};

use super::error::ApiError;

/// Any path outside the API.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// A known path with a method it does not serve; the router adds the `Allow` header.
pub async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; the Allow header lists the methods that are",
        uri.path()
    ))
}
