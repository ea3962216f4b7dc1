//! Following a job until it ends: its Server-Sent Events (`GET /jobs/{id}/events`) when
//! the API has them, `GET /jobs/{id}` every 500 ms when it does not. A dropped stream
//! is reconnected after one read of the job, so nothing is missed; a job that cannot be
//! read for [`GIVE_UP_AFTER`] is given up on.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{ApiClient, ClientError, Job, output::Mode, progress::JobProgress};

/// Between two reads of the job when polling, and before reconnecting a dropped stream.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts while the API does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the API may stay unreachable before the client gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// How the job is being followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Events,
    Polling,
}

/// What follows the job: shows every snapshot and tells a state change in plain mode.
struct Watcher<'a> {
    progress: &'a mut JobProgress,
    mode: Mode,
    last: Job,
}

impl Watcher<'_> {
    fn see(&mut self, job: Job) {
        self.progress.update(&job);
        if self.mode == Mode::Plain && job.state != self.last.state {
            eprintln!("job {} is {}", job.id, job.state.as_str());
        }
        self.last = job;
    }

    fn ended(&self) -> bool {
        self.last.state.is_terminal()
    }
}

/// Follows `job` until its terminal state and returns it.
pub(crate) async fn follow(
    client: &ApiClient,
    job: Job,
    progress: &mut JobProgress,
    mode: Mode,
) -> Result<Job, ClientError> {
    let id = job.id;
    progress.update(&job);
    let mut watcher = Watcher {
        progress,
        mode,
        last: job,
    };
    let mut source = Source::Events;
    let mut failing_since: Option<Instant> = None;
    let mut backoff = POLL_EVERY;
    while !watcher.ended() {
        if source == Source::Events {
            // Only a successful read of the job counts as the API being back: a stream
            // that opens and drops at once must not keep the client waiting forever.
            match stream_events(client, &mut watcher).await {
                Ok(()) => {}
                // The API has no event stream (an older version, a proxy that refuses
                // it): poll instead. A real refusal (key, job) shows in the poll below; a
                // rate limit is only a reason to wait.
                Err(ClientError::Api { status, .. })
                    if (400..500).contains(&status) && status != 429 =>
                {
                    source = Source::Polling;
                }
                // Events this client cannot read: the job itself still can be.
                Err(ClientError::Unexpected { .. }) => source = Source::Polling,
                Err(_) => {} // The poll below tells whether the API is reachable.
            }
            if watcher.ended() {
                break;
            }
        }
        match client.job(id).await {
            Ok(job) => {
                watcher.see(job);
                failing_since = None;
                backoff = POLL_EVERY;
            }
            Err(e) if e.is_transient() => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > GIVE_UP_AFTER {
                    return Err(ClientError::FollowLost {
                        id,
                        source: Box::new(e),
                    });
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
        if !watcher.ended() {
            tokio::time::sleep(backoff).await;
        }
    }
    Ok(watcher.last)
}

/// Reads the event stream until it ends or breaks, handing every `job` event to the
/// watcher. `Ok` once the stream is over, whether it ended, dropped or said it could not
/// read the job (the caller reads the job then and reconnects); `Err` when it could not be
/// opened or carried an event that is not a job.
async fn stream_events(client: &ApiClient, watcher: &mut Watcher<'_>) -> Result<(), ClientError> {
    let events = client.events(watcher.last.id).await?;
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            // The connection dropped or timed out; the caller reads the job and reconnects.
            break;
        };
        match event.event.as_str() {
            "job" => {
                let value =
                    serde_json::from_str(&event.data).map_err(|e| ClientError::Unexpected {
                        url: client.url(&format!("/api/v1/jobs/{}/events", watcher.last.id)),
                        detail: format!("a job event that is not JSON ({e})"),
                    })?;
                let job =
                    serde_json::from_value::<Job>(value).map_err(|e| ClientError::Unexpected {
                        url: client.url(&format!("/api/v1/jobs/{}/events", watcher.last.id)),
                        detail: format!("a job event that is not a job ({e})"),
                    })?;
                watcher.see(job);
                if watcher.ended() {
                    return Ok(());
                }
            }
            // The server could not read the job and ended the stream; reconnect.
            "error" => break,
            _ => {} // Events of a newer API are not ours to interpret.
        }
    }
    Ok(())
}
