//! Route handlers, one file per resource.

pub(crate) mod contacts;
pub(crate) mod corrections;
pub(crate) mod dashboard;
pub(crate) mod health;
pub(crate) mod job_errors;
pub(crate) mod job_events;
pub(crate) mod jobs;
pub(crate) mod keys;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod opportunities;
pub(crate) mod revert;
pub(crate) mod sales_targets;
pub(crate) mod samples;
pub(crate) mod uploads;
pub(crate) mod webhooks;

use axum::{extract::OriginalUri, http::Method};

use super::error::ApiError;

/// Any path outside the API.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// A known path with a method it does not serve; the router adds the `Allow` header.
pub(crate) async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; the Allow header lists the methods that are",
        uri.path()
    ))
}
