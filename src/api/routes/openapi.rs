//! `GET /openapi.json`: the API's OpenAPI 3.1 document.

use axum::{http::header, response::IntoResponse};

use crate::api::openapi;

/// Serves the document, built once from the code (no key needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi_json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = openapi::OpenApiDocument)),
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::json(),
    )
}
