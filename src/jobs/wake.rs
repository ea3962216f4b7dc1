//! Waking idle workers when a task is pushed, so that they can poll the queue rarely.
//!
//! [`JobQueue::enqueue`](super::queue::JobQueue::enqueue) publishes on
//! `tasks:<active list>:available` once its push has returned, so the message is sent only
//! when the task can be fetched. (apalis-redis' own push script would publish there only for
//! tasks it puts straight on the active list; it files ours under the scheduled set, due at
//! once. It does publish there when a dead worker's lease releases tasks.) Each worker
//! process subscribes to that channel and turns every message into a [`WakeSignal`] that
//! the queue consumer's poll strategy races against its (slow) fallback interval.
//! A message can be lost (the subscription is down, Redis restarts); the interval poll
//! then finds the task, only later.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use apalis_redis::Config;
use futures::{Stream, StreamExt, task::AtomicWaker};

/// The channel pushes of the queue are announced on.
pub fn channel(config: &Config) -> String {
    format!("tasks:{}:available", config.active_jobs_list())
}

#[derive(Debug, Default)]
struct Inner {
    waker: AtomicWaker,
    set: AtomicBool,
}

/// A stream that yields once per burst of wake-ups: several signals before the consumer
/// looks again count as one (one fetch finds every waiting task it has room for, and
/// the consumer fetches again while tasks keep coming).
#[derive(Debug, Clone, Default)]
pub struct WakeSignal(Arc<Inner>);

impl WakeSignal {
    /// Wakes the consumer (or makes its next look succeed at once).
    pub(crate) fn wake(&self) {
        self.0.set.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Stream for WakeSignal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let inner = &self.0;
        if inner.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        // Register before checking again: a wake in between is not lost.
        inner.waker.register(cx.waker());
        if inner.set.swap(false, Ordering::AcqRel) {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

/// Subscribes to `channel` on `redis_url` and wakes `signal` on every message, for as
/// long as it runs (abort the task to stop). A broken subscription is made again after a
/// pause; after every (re)subscription the signal is woken once, for pushes published
/// while nobody listened.
pub async fn listen_forever(redis_url: String, channel: String, signal: WakeSignal) {
    let mut delay = Duration::from_millis(200);
    loop {
        match subscribe(&redis_url, &channel).await {
            Ok(mut pubsub) => {
                tracing::debug!(%channel, "listening for pushed tasks");
                delay = Duration::from_millis(200);
                signal.wake();
                let mut messages = pubsub.on_message();
                while messages.next().await.is_some() {
                    signal.wake();
                }
                tracing::warn!(%channel, "the push subscription ended; polling until it is back");
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot subscribe to pushed tasks; polling meanwhile");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(redis_url: &str, channel: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let client = redis::Client::open(redis_url)?;
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "subscribing timed out",
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn wakes_coalesce_and_are_not_lost_before_the_first_look() {
        let mut signal = WakeSignal::default();
        assert!(signal.next().now_or_never().is_none(), "nothing pushed yet");
        signal.wake();
        signal.wake();
        assert_eq!(signal.next().now_or_never(), Some(Some(())));
        assert!(
            signal.next().now_or_never().is_none(),
            "two wakes before a look count once"
        );
        let waiting = tokio::spawn({
            let mut signal = signal.clone();
            async move { signal.next().await }
        });
        tokio::task::yield_now().await;
        signal.wake();
        let woke = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(
            matches!(woke, Ok(Ok(Some(())))),
            "a waiting consumer is woken"
        );
    }
}
