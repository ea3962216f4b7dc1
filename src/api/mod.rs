//! The HTTP API (axum). Handlers stay thin: they authenticate, validate the request and
//! call the database, the file store or the queue.

pub mod auth;
pub mod error;
pub mod error_layer;
pub mod extract;
pub mod jsend;
pub mod pagination;
pub mod rate_limit;
pub mod routes;
/// The JSON shapes, shared with the webhook deliveries (`crate::views`).
pub use crate::views;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Request, header},
    middleware::map_response,
    routing::{get, post},
};
use sqlx::PgPool;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{config::Settings, domain::JobKind, jobs::queue::JobQueue, storage::FileStore};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub db: PgPool,
    /// The Redis job queue (producer side).
    pub queue: JobQueue,
    /// Uploads and error files.
    pub store: FileStore,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Requests per API key (`rate_limit_rps`, `rate_limit_burst`).
    pub rate_limiter: Arc<rate_limit::KeyRateLimiter>,
}

/// Builds the router with all routes under `/api/v1`.
pub fn router(state: AppState) -> Router {
    // Uploads are streamed to disk and limited by the handler; this outer limit only
    // guards against bodies far beyond any legitimate upload.
    let body_cap = (state.settings.max_upload_bytes + 2 * 1024 * 1024) as usize;
    let api = Router::new()
        .route(
            "/opportunities/upload",
            routes::uploads::route(JobKind::Opportunities),
        )
        .route(
            "/contacts/upload",
            routes::uploads::route(JobKind::Contacts),
        )
        .route(
            "/sales_targets/upload",
            routes::uploads::route(JobKind::SalesTargets),
        )
        .route("/opportunities", get(routes::opportunities::list))
        .route("/contacts", get(routes::contacts::list))
        .route("/sales_targets", get(routes::sales_targets::list))
        .route("/jobs", get(routes::jobs::list))
        .route("/jobs/{id}", get(routes::jobs::get))
        .route("/jobs/{id}/cancel", post(routes::jobs::cancel))
        .route("/jobs/{id}/events", get(routes::job_events::events))
        .route("/jobs/{id}/errors.csv", get(routes::jobs::error_file))
        .route(
            "/webhooks",
            get(routes::webhooks::list).post(routes::webhooks::create),
        )
        .route(
            "/webhooks/{id}",
            get(routes::webhooks::get).delete(routes::webhooks::delete),
        )
        .route(
            "/webhooks/{id}/deliveries",
            get(routes::webhooks::deliveries),
        )
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        // After the routes: it is set on each route present when it is called.
        .method_not_allowed_fallback(routes::method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(routes::metrics::metrics))
        .merge(routes::dashboard::router())
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
