//! `GET /jobs/{id}/events`: a job's progress as Server-Sent Events, so a client can follow
//! an import without polling. One `job` event (the same object as `GET /jobs/{id}`) each
//! time the job's state, progress or counts change; the stream ends after the event of
//! its terminal state. One API key may have `event_streams_per_key` streams open at once
//! (429 beyond), and an open stream ends with an `error` event once its key is revoked
//! (checked every `event_stream_key_check_secs`).

use std::{
    convert::Infallible,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use uuid::Uuid;

use super::jobs::tenant_job;
use crate::{
    api::{
        AppState, auth::Caller, edge::StreamSlot, error::ApiError, extract::Path, openapi,
        views::JobView,
    },
    db::{self, jobs::JobRecord},
    domain::JobState,
};

/// How often the job's row is read while nothing changes. Progress is recorded once per
/// chunk, so a client sees every chunk that takes longer than this.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// What a client is told about; a change in any of it is a new event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    state: JobState,
    rows_processed: i64,
    counts: (Option<i64>, Option<i64>, Option<i64>),
    error: Option<String>,
    error_summary: Vec<crate::domain::ErrorSummaryEntry>,
}

impl Snapshot {
    fn of(job: &JobRecord) -> Self {
        Self {
            state: job.state(),
            rows_processed: job.rows_processed,
            counts: (
                job.total_original_rows,
                job.total_imported_rows,
                job.total_error_rows,
            ),
            error: job.error.clone(),
            error_summary: job.error_summary.0.clone(),
        }
    }
}

/// Where the stream stands between two events.
struct Follow {
    db: sqlx::PgPool,
    tenant_id: Uuid,
    job_id: Uuid,
    public_base: String,
    /// The job as read but not yet compared (the first read comes from the request).
    next: Option<JobRecord>,
    last: Option<Snapshot>,
    sent: u64,
    done: bool,
    /// The caller's key, checked every `key_check` while the stream is open.
    key_id: Uuid,
    key_check: Duration,
    key_checked: Instant,
    /// Counts this stream against the key's limit until the stream is dropped.
    _slot: StreamSlot,
}

/// The job's events until its terminal state.
#[utoipa::path(
    get,
    path = "/jobs/{id}/events",
    operation_id = "follow_job_events",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Server-Sent Events: a `job` event (data: the job, as `GET /jobs/{id}` shows it) at each change, until the terminal state; an `error` event (data: JSend error) ends the stream early when the job cannot be read; each event is a `JobEvent`", content_type = "text/event-stream", body = inline(openapi::EventStream)),
        (status = 400, description = "The path is not valid", body = openapi::JSendFail),
        (status = 404, description = "No such job for this tenant", body = openapi::JSendFail),
    ),
    security(("api_key" = [])),
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state
        .edge
        .event_streams
        .acquire(caller.key_id)
        .ok_or(ApiError::TooManyStreams {
            limit: state.edge.event_streams.limit(),
        })?;
    let job = tenant_job(&state, caller.tenant_id, &id).await?;
    let follow = Follow {
        db: state.db.clone(),
        tenant_id: caller.tenant_id,
        job_id: job.id,
        public_base: state.settings.public_base().to_owned(),
        next: Some(job),
        last: None,
        sent: 0,
        done: false,
        key_id: caller.key_id,
        key_check: state.edge.event_stream_key_check,
        key_checked: Instant::now(),
        _slot: slot,
    };
    let stream = futures::stream::unfold(follow, |mut follow| async move {
        let event = next_event(&mut follow).await?;
        Some((Ok(event), follow))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Waits for the job's next change and describes it; `None` once the stream is over.
async fn next_event(follow: &mut Follow) -> Option<Event> {
    if follow.done {
        return None;
    }
    loop {
        let job = match follow.next.take() {
            Some(job) => job,
            None => {
                tokio::time::sleep(POLL_EVERY).await;
                if follow.key_checked.elapsed() >= follow.key_check {
                    follow.key_checked = Instant::now();
                    match db::accounts::key_is_active(&follow.db, follow.key_id).await {
                        Ok(true) => {}
                        Ok(false) => return follow.end_with_error("the API key was revoked"),
                        Err(e) => tracing::warn!(error = %e, "job events: could not check the key"),
                    }
                }
                match db::jobs::get_for_tenant(&follow.db, follow.tenant_id, follow.job_id).await {
                    Ok(Some(job)) => job,
                    Ok(None) => return follow.end_with_error("the job no longer exists"),
                    Err(e) => {
                        tracing::warn!(error = %e, "job events: could not read the job");
                        return follow
                            .end_with_error("the job could not be read; reconnect to follow it");
                    }
                }
            }
        };
        let snapshot = Snapshot::of(&job);
        if follow.last.as_ref() == Some(&snapshot) {
            continue;
        }
        follow.done = job.state().is_terminal();
        follow.last = Some(snapshot);
        follow.sent += 1;
        let view = JobView::new(job, &follow.public_base);
        let event = Event::default()
            .event("job")
            .id(follow.sent.to_string())
            .json_data(&view)
            .unwrap_or_else(|_| Event::default().event("job"));
        return Some(event);
    }
}

impl Follow {
    /// Ends the stream with an `error` event saying why.
    fn end_with_error(&mut self, message: &str) -> Option<Event> {
        self.done = true;
        Some(
            Event::default()
                .event("error")
                .json_data(serde_json::json!({ "status": "error", "message": message }))
                .unwrap_or_default(),
        )
    }
}
