//! `GET /metrics`: Prometheus text. This process's HTTP metrics, plus the whole import
//! picture read at scrape time: jobs by kind and state and their rows from Postgres,
//! tasks waiting in Redis. Labels are kinds, states, outcomes and route patterns; per
//! tenant only with `metrics_tenant_labels`: then each tenant's queued and running jobs
//! too (`batch_import_tenant_jobs{tenant,state}`). No API key: with `METRICS_TOKEN` set it needs
//! `Authorization: Bearer <token>`, and `API_METRICS_ADDR` moves it off the public port.

use std::{
    collections::BTreeSet,
    sync::{Mutex, PoisonError},
};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{
    api::{AppState, error::ApiError},
    db,
    domain::{JobKind, JobState},
    prometheus,
};

/// Renders the metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
        (status = 401, description = "`METRICS_TOKEN` is set and the request does not carry it as `Authorization: Bearer <token>`", body = crate::api::openapi::JSendFail),
    ),
)]
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.edge.metrics_authorized(&headers) {
        return unauthorized();
    }
    match db::jobs::totals(&state.db).await {
        Ok(totals) => {
            // Every kind and state, 0 when no row has it: a gauge set once keeps its value,
            // so a state whose last job left it would otherwise report its old count for
            // ever (and an autoscaler reading `queued` would never scale down).
            for kind in JobKind::ALL {
                for job_state in JobState::ALL {
                    let jobs = totals
                        .iter()
                        .find(|(k, s, _)| k == kind.as_str() && s == job_state.as_str())
                        .map_or(0, |(_, _, jobs)| *jobs);
                    metrics::gauge!(prometheus::JOBS, "kind" => kind.as_str(), "state" => job_state.as_str())
                        .set(jobs as f64);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the job totals"),
    }
    if state.settings.metrics_tenant_labels {
        match db::jobs::tenant_totals(&state.db).await {
            Ok(totals) => report_tenant_jobs(&totals),
            Err(e) => tracing::warn!(error = %e, "metrics: could not read the tenant totals"),
        }
    }
    match db::jobs::row_totals(&state.db).await {
        Ok(rows) => {
            for (kind, imported, failed) in rows {
                metrics::gauge!(prometheus::JOB_ROWS, "kind" => kind.clone(), "outcome" => "imported")
                    .set(imported as f64);
                metrics::gauge!(prometheus::JOB_ROWS, "kind" => kind, "outcome" => "failed")
                    .set(failed as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the row totals"),
    }
    match db::schedule::slots_wanted(&state.db, state.settings.tenant_max_running).await {
        Ok(slots) => metrics::gauge!(prometheus::SLOTS_WANTED).set(slots as f64),
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the slots wanted"),
    }
    match state.queue.depth().await {
        Ok(depth) => metrics::gauge!(prometheus::QUEUE_DEPTH).set(depth as f64),
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the queue depth"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus::handle().render(),
    )
        .into_response()
}

/// The tenants this process reported in `batch_import_tenant_jobs` at its last scrape.
static TENANTS_REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Sets each tenant's queued and running gauges from `totals` (`(slug, state, jobs)`), 0
/// for a state it has no job in. A tenant reported last time and absent now is set to 0
/// (once): a gauge keeps its value, so its old count would otherwise stay for ever.
fn report_tenant_jobs(totals: &[(String, String, i64)]) {
    let mut reported = TENANTS_REPORTED
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let now: BTreeSet<String> = totals.iter().map(|(tenant, _, _)| tenant.clone()).collect();
    for tenant in now.iter().chain(reported.difference(&now)) {
        for job_state in [JobState::Queued, JobState::Running] {
            let jobs = totals
                .iter()
                .find(|(t, s, _)| t == tenant && s == job_state.as_str())
                .map_or(0, |(_, _, jobs)| *jobs);
            metrics::gauge!(prometheus::TENANT_JOBS, "tenant" => tenant.clone(), "state" => job_state.as_str())
                .set(jobs as f64);
        }
    }
    *reported = now;
}

/// 401 JSend with `WWW-Authenticate: Bearer`.
pub(crate) fn unauthorized() -> Response {
    let mut response =
        ApiError::Unauthorized("metrics need Authorization: Bearer <METRICS_TOKEN>".into())
            .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
