//! Our own accept loop for the public listener. `axum::serve` runs hyper without a timer, so
//! hyper's header-read timeout never fires (slowloris) and it has no connection cap; here every
//! connection gets a header-read timeout, the number of connections is capped, and draining
//! lets in-flight requests finish while refusing new ones.
//!
//! HTTP/1.1 only: SSE, WebSocket and REST need nothing more, and hyper's automatic version
//! detection reads the first bytes without any timeout (hyperium/hyper#3756).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::util::MapRequest;

/// The connection-limit slot of one connection, reachable from its requests: a WebSocket
/// takes it over at its upgrade, when hyper lets go of the connection, so the limit keeps
/// counting it.
#[derive(Debug, Clone)]
pub struct ConnectionSlot(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl ConnectionSlot {
    /// The slot, for whoever keeps the connection open after this request.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Limits of the accept loop.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Time allowed for a request's headers (and for an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// Connections open at once, WebSockets included (they keep a slot after their upgrade);
    /// the next one is closed at accept.
    pub slots: Arc<Semaphore>,
}

/// The two steps of a drain the accept loop takes part in.
#[derive(Debug, Clone)]
pub struct Stopping {
    /// Cancelled first: the listener closes; open connections keep being served, so requests
    /// already sent get an answer (503 while draining) instead of a reset.
    pub accepting: CancellationToken,
    /// Cancelled once the deliveries under way finished: each connection finishes its current
    /// response (streams end after flushing) and closes.
    pub connections: CancellationToken,
}

/// Serves `app` on `listener` until `stopping.accepting` is cancelled. Each connection's task
/// is in `connections`; once `stopping.connections` is cancelled, each one finishes its
/// in-flight request and closes. The caller waits on `connections` (with its grace period) to
/// complete the drain.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServerOptions,
    stopping: Stopping,
    connections: TaskTracker,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = options.slots.clone();
    loop {
        let accepted = tokio::select! {
            () = stopping.accepting.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Usually EMFILE: wait a little rather than spin on an error that persists.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!("switchyard_http_connections_refused_total").increment(1);
            tracing::warn!(%peer, "connection limit reached; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(Mutex::new(Some(permit))));
        let for_requests = slot.clone();
        let service = TowerToHyperService::new(MapRequest::new(
            app.clone(),
            move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(for_requests.clone());
                req
            },
        ));
        let builder = builder.clone();
        let shutdown = stopping.connections.clone();
        connections.spawn(async move {
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                r = connection.as_mut() => r,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
}
