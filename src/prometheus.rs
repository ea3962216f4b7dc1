//! Prometheus metrics. One recorder per process; the API serves it at `/metrics` (with
//! job totals read from Postgres at scrape time), a worker on `METRICS_ADDR` when set.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::{JobKind, JobState};

/// HTTP requests by method, route and status.
pub(crate) const HTTP_REQUESTS: &str = "batch_import_http_requests_total";
/// HTTP request latency by method and route.
pub(crate) const HTTP_DURATION: &str = "batch_import_http_request_duration_seconds";
/// Jobs that ended in this process, by kind and final state.
pub(crate) const JOBS_ENDED: &str = "batch_import_jobs_ended_total";
/// Rows of ended jobs, by kind and outcome (`imported`, `failed`).
pub(crate) const ROWS: &str = "batch_import_rows_total";
/// How long an import run took, by kind.
pub(crate) const IMPORT_DURATION: &str = "batch_import_import_duration_seconds";
/// Error report emails by outcome (`sent`, `failed`).
pub(crate) const EMAILS: &str = "batch_import_emails_total";
/// Webhook delivery attempts by outcome (`delivered`, `retrying`, `failed`).
pub(crate) const WEBHOOK_ATTEMPTS: &str = "batch_import_webhook_attempts_total";
/// All jobs in Postgres by kind and state (read at scrape time by the API).
pub(crate) const JOBS: &str = "batch_import_jobs";
/// Rows of all finished jobs in Postgres by kind and outcome (read at scrape time).
pub(crate) const JOB_ROWS: &str = "batch_import_job_rows";
/// Tasks waiting in Redis (read at scrape time by the API).
pub(crate) const QUEUE_DEPTH: &str = "batch_import_queue_depth";

/// How long jobs waited from upload to the start of their first run, by kind (and tenant
/// with `metrics_tenant_labels`); recorded by the worker that starts them.
pub(crate) const QUEUE_WAIT: &str = "batch_import_queue_wait_seconds";
/// Queued and running jobs per tenant (read at scrape time by the API; only with
/// `metrics_tenant_labels`).
pub(crate) const TENANT_JOBS: &str = "batch_import_tenant_jobs";
/// Worker slots the jobs in hand could use now, each tenant's capped at
/// `tenant_max_running` (read at scrape time by the API; what autoscaling follows).
pub const SLOTS_WANTED: &str = "batch_import_worker_slots_wanted";
/// Uploads refused with 429 because their tenant had `tenant_max_queued` jobs queued.
pub(crate) const QUEUE_FULL_REFUSED: &str = "batch_import_queue_full_refused_total";

/// Requests refused with 429 because their address failed to authenticate too often.
pub(crate) const AUTH_FAILURES_REFUSED: &str = "batch_import_auth_failures_refused_total";

/// Latency buckets, in seconds, from a fast GET to a long `wait=true` upload or import.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Queue wait buckets, in seconds: from an idle cluster's pickup to an hour-long backlog.
const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// The process's recorder, installed on first use.
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("buckets are not empty")
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(QUEUE_WAIT.to_owned()),
                    QUEUE_WAIT_BUCKETS,
                )
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder installed first (a test harness, say): ours then only
            // renders what is recorded through it, which is nothing; keep going.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Middleware: counts and times every request by its route pattern (not its path, so
/// job ids do not make a series each).
pub(crate) async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records a job that ended in this process.
pub(crate) fn job_ended(
    kind: JobKind,
    state: JobState,
    imported: i64,
    failed: i64,
    took: Option<Duration>,
) {
    let kind = kind.as_str();
    metrics::counter!(JOBS_ENDED, "kind" => kind, "state" => state.as_str()).increment(1);
    metrics::counter!(ROWS, "kind" => kind, "outcome" => "imported")
        .increment(imported.max(0) as u64);
    metrics::counter!(ROWS, "kind" => kind, "outcome" => "failed").increment(failed.max(0) as u64);
    if let Some(took) = took {
        metrics::histogram!(IMPORT_DURATION, "kind" => kind).record(took.as_secs_f64());
    }
}

/// Records how long a job waited before its first run started; `tenant` is its slug
/// when tenant labels are on.
pub(crate) fn queue_wait(kind: JobKind, tenant: Option<&str>, waited: Duration) {
    let kind = kind.as_str();
    match tenant {
        Some(tenant) => {
            metrics::histogram!(QUEUE_WAIT, "kind" => kind, "tenant" => tenant.to_owned())
                .record(waited.as_secs_f64())
        }
        None => metrics::histogram!(QUEUE_WAIT, "kind" => kind).record(waited.as_secs_f64()),
    }
}

/// Records an error report email.
pub(crate) fn email(sent: bool) {
    let outcome = if sent { "sent" } else { "failed" };
    metrics::counter!(EMAILS, "outcome" => outcome).increment(1);
}

/// Records a webhook delivery attempt; `state` is what the delivery became.
pub(crate) fn webhook_attempt(state: &str) {
    let outcome = match state {
        "delivered" => "delivered",
        "failed" => "failed",
        _ => "retrying",
    };
    metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
}
