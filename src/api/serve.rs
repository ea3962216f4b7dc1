//! The API's accept loop (instead of `axum::serve`), for what `axum::serve` cannot set:
//! a header read timeout (a client that does not finish its request head in time is
//! disconnected, and so is a keep-alive connection idle that long), an idle timeout on
//! request bodies (no body data for that long: the body fails and the connection is
//! closed), and a cap on open connections. Over the cap the loop stops accepting: new
//! connections wait in the kernel's listen backlog until one closes (and are refused by
//! the kernel once the backlog is full); the loop never spins. Each request carries
//! `ConnectInfo<SocketAddr>` of its peer. HTTP/1.1 only (with upgrades).

use std::{sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

/// The connection limits of the API listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// A request head (or the next one on a kept-alive connection) must arrive within this.
    pub header_read_timeout: Duration,
    /// A request body may go this long without data.
    pub body_idle_timeout: Duration,
    /// Connections open at once; 0: no cap.
    pub max_connections: usize,
}

/// How long the loop pauses after `accept` fails (e.g. out of file descriptors), so that
/// it does not spin on an error that persists.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, asks
/// every connection to finish its request in flight and waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits =
        (limits.max_connections > 0).then(|| Arc::new(Semaphore::new(limits.max_connections)));
    // Dropping `signal_rx` tells the connections to shut down; `close_tx` is closed once
    // every connection task has dropped its receiver.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let permit = match &permits {
            Some(permits) => tokio::select! {
                permit = Arc::clone(permits).acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => break,
                },
                () = signal_tx.closed() => break,
            },
            None => None,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        let _ = stream.set_nodelay(true);
        // Every request gets the peer's address and a body that fails once no data came
        // for `body_idle_timeout` (between frames, not for the whole body).
        let idle = limits.body_idle_timeout;
        let service = TowerToHyperService::new(router.clone().map_request(
            move |request: Request<Incoming>| {
                let mut request = request.map(|body| Body::new(TimeoutBody::new(idle, body)));
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut signalled = std::pin::pin!(signal_tx.closed());
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = &mut signalled, if !shutting_down => {
                        shutting_down = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}
