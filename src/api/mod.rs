//! The HTTP API (axum). Handlers stay thin: they authenticate, validate the request and
//! call the database, the file store or the queue.

pub(crate) mod auth;
pub(crate) mod auth_failures;
pub(crate) mod client_addr;
pub(crate) mod cursor;
pub(crate) mod edge;
pub(crate) mod error;
pub(crate) mod error_layer;
pub(crate) mod export;
pub(crate) mod extract;
pub(crate) mod jsend;
pub(crate) mod listing;
pub mod openapi;
pub(crate) mod pagination;
pub(crate) mod rate_limit;
pub(crate) mod routes;
pub(crate) mod serve;
/// The JSON shapes, shared with the webhook deliveries (`crate::views`).
pub(crate) use crate::views;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Request, header},
    middleware::map_response,
};
use sqlx::PgPool;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{config::Settings, jobs::queue::JobQueue, storage::Store};

/// Where the API lives; `/metrics` is the only documented route outside it.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// Routes the router serves outside the API contract, so outside the OpenAPI document
/// (e.g. an HTML page). The route coverage test allows exactly these to be undocumented;
/// add a route here when it is added to [`router`] with a plain `.route`.
pub const NON_API_ROUTES: &[&str] = &[
    "/",
    "/dashboard",
    "/dashboard/app.js",
    "/dashboard/style.css",
];

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Postgres.
    pub db: PgPool,
    /// The Redis job queue (producer side).
    pub queue: JobQueue,
    /// Uploads and error files.
    pub store: Store,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Requests per API key (`rate_limit_rps`, `rate_limit_burst`).
    pub rate_limiter: Arc<rate_limit::KeyRateLimiter>,
    /// Failed authentications per address, event streams per key, the metrics token.
    pub edge: Arc<edge::Edge>,
}

/// Every documented route: each handler is registered with utoipa-axum's `routes!`, which
/// adds its `#[utoipa::path]` to the OpenAPI document as it adds the route, so the router
/// and the document (see [`openapi::document`]) cannot drift apart.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    documented_api_routes().routes(routes!(routes::metrics::metrics))
}

/// [`documented_routes`] without `/metrics`: the public router when `/metrics` is served
/// on `api_metrics_addr`.
fn documented_api_routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(routes::uploads::opportunities))
        .routes(routes!(routes::uploads::contacts))
        .routes(routes!(routes::uploads::sales_targets))
        .routes(routes!(routes::samples::opportunities))
        .routes(routes!(routes::samples::contacts))
        .routes(routes!(routes::samples::sales_targets))
        .routes(routes!(routes::samples::opportunities_workbook))
        .routes(routes!(routes::samples::contacts_workbook))
        .routes(routes!(routes::samples::sales_targets_workbook))
        .routes(routes!(routes::opportunities::list))
        .routes(routes!(routes::contacts::list))
        .routes(routes!(routes::sales_targets::list))
        .routes(routes!(routes::opportunities::export_csv))
        .routes(routes!(routes::contacts::export_csv))
        .routes(routes!(routes::sales_targets::export_csv))
        .routes(routes!(routes::jobs::list))
        .routes(routes!(routes::jobs::get))
        .routes(routes!(routes::jobs::cancel))
        .routes(routes!(routes::job_events::events))
        .routes(routes!(routes::jobs::error_file))
        .routes(routes!(routes::jobs::unprocessed_file))
        .routes(routes!(routes::webhooks::list, routes::webhooks::create))
        .routes(routes!(routes::webhooks::get, routes::webhooks::delete))
        .routes(routes!(routes::webhooks::deliveries))
        .routes(routes!(routes::job_errors::list))
        .routes(routes!(routes::corrections::create))
        .routes(routes!(routes::revert::create))
        .routes(routes!(routes::keys::list, routes::keys::create))
        .routes(routes!(routes::keys::revoke))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
        .routes(routes!(routes::openapi::openapi_json));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).nest(API_PREFIX, api)
}

/// `GET /metrics` alone, for `api_metrics_addr`.
pub(crate) fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(routes::metrics::metrics))
        .fallback(routes::not_found)
        .with_state(state)
}

/// Builds the router: the documented routes, then the layers every answer goes through.
pub(crate) fn router(state: AppState) -> Router {
    // Uploads are streamed to disk and limited by the handler; this outer limit only
    // guards against bodies far beyond any legitimate upload.
    let body_cap = (state.settings.max_upload_bytes + 2 * 1024 * 1024) as usize;
    let documented = if state.settings.api_metrics_addr.is_some() {
        documented_api_routes()
    } else {
        documented_routes()
    };
    let (routes, _) = documented.split_for_parts();
    routes
        .merge(routes::dashboard::router())
        // After the routes: it is set on each route present when it is called.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .route_layer(axum::middleware::from_fn(crate::prometheus::track_http))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_cap))
        // Outside the body limit, so its plain-text 413 becomes JSend too.
        .layer(map_response(error_layer::jsend_errors))
        // API answers are per caller and per moment: no cache may keep them, and no
        // browser may guess a type other than the one declared.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id,
                    tenant = tracing::field::Empty,
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
