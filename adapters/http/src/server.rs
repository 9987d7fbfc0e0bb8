//! Our own accept loop for the public listener. `axum::serve` runs hyper without a timer, so
//! hyper's header-read timeout never fires (slowloris) and it has no connection cap; here every
//! connection gets a header-read timeout and a body-read timeout, the number of connections is
//! capped (with a small reserve that still answers health checks and a clear 503 when the cap
//! is hit), and draining lets in-flight requests finish while refusing new ones.
//!
//! HTTP/1.1 only: SSE, WebSocket and REST need nothing more, and hyper's automatic version
//! detection reads the first bytes without any timeout (hyperium/hyper#3756).

mod connection;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use http::StatusCode;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use connection::{ConnectionSlot, PeerCertificate};

use crate::error::ApiError;

/// Bytes hyper may hold unsent per connection before it stops polling the response body. The
/// default (~400 KiB) let each stalled SSE reader pin about that much; with this bound a
/// stalled stream holds at most this plus one coalesced chunk, and its hub queue then fills
/// and disconnects it (slow consumer). It also bounds a request's header block.
const MAX_CONNECTION_BUFFER: usize = 64 * 1024;

/// Connections kept beyond `max_connections` for health checks and metrics scrapes; they are
/// served only the reserve router (see [`reserve_router`]).
pub const RESERVE_CONNECTIONS: usize = 16;

/// Limits of the accept loop.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Time allowed for a request's headers (and for an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// Longest gap between two reads of a request body; then 408.
    pub body_read_timeout: Duration,
    /// Connections open at once, WebSockets included (they keep a slot after their upgrade).
    pub slots: Arc<Semaphore>,
    /// Beyond `slots`: a few more connections, served `reserve` (health checks, and a clear
    /// 503 for everything else). Without it, the next connection is closed at accept.
    pub reserve: Option<Reserve>,
    /// HTTPS: each connection's handshake first.
    pub tls: Option<crate::tls::Tls>,
}

/// The connections kept for when the cap is reached, and what they are served.
#[derive(Debug, Clone)]
pub struct Reserve {
    pub slots: Arc<Semaphore>,
    pub app: Router,
}

/// What the reserve connections are served: `admin` (health, readiness, metrics) when it is
/// on this listener, and `503 connection_limit` with `Connection: close` for everything else.
pub fn reserve_router(admin: Option<Router>) -> Router {
    admin
        .unwrap_or_default()
        .fallback(|| async { over_the_limit() })
}

fn over_the_limit() -> axum::response::Response {
    let mut api = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "connection_limit",
        "the gateway holds http.max_connections connections; try again later",
    );
    api.retry_after = Some(Duration::from_secs(1));
    api.close_connection = true;
    api.into_response()
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
        .max_buf_size(MAX_CONNECTION_BUFFER)
        .keep_alive(true);
    let builder = Arc::new(builder);
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
        let (permit, app) = match options.slots.clone().try_acquire_owned() {
            Ok(permit) => (permit, app.clone()),
            Err(_) => {
                metrics::counter!("switchyard_http_connections_refused_total").increment(1);
                let reserved = options.reserve.as_ref().and_then(|r| {
                    let permit = r.slots.clone().try_acquire_owned().ok()?;
                    Some((permit, r.app.clone()))
                });
                let Some(reserved) = reserved else {
                    tracing::warn!(%peer, "connection limit reached; closing");
                    continue;
                };
                reserved
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = connection::Connection {
            stream: Some(stream),
            peer,
            permit,
            app,
            builder: builder.clone(),
            body_read_timeout: options.body_read_timeout,
            shutdown: stopping.connections.clone(),
            tls: options.tls.clone(),
        };
        connections.spawn(connection.serve());
    }
}
