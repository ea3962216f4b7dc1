//! Route handlers, one file per resource.

pub mod contacts;
pub mod health;
pub mod jobs;
pub mod opportunities;
pub mod sales_targets;
pub mod uploads;

use super::error::ApiError;

/// Any path outside the API.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
