//! The listeners: the HTTP family's (which runs as an inbound), the admin one when
//! `listen.admin` puts it apart (otherwise the admin routes share the HTTP listener), and the
//! gRPC one. Each keeps its bound socket, so that a reload that changes a listener's settings
//! but not its address hands the same socket to the next server: no connection is refused in
//! between, and the connections already open stay with the server that accepted them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use switchyard_core::inbound::{Inbound, InboundContext};
use switchyard_grpc::GrpcInbound;
use switchyard_http::Access;
use switchyard_http::inbound::HttpInbound;
use switchyard_http::server::{
    RESERVE_CONNECTIONS, Reserve, ServerOptions, Stopping, reserve_router, serve,
};
use switchyard_http::tls::Tls;

use super::{GRPC_INBOUND, HTTP_INBOUND, Running};
use crate::config::Config;

/// Connections the separate admin listener serves at once: its own few, so a flood of public
/// connections cannot lock out health checks and metrics scrapes.
const ADMIN_CONNECTIONS: usize = 64;

/// A listener with a server accepting on it.
#[derive(Debug)]
pub(super) struct Listener {
    /// As configured (`listen.http`, ...), to tell a changed address.
    pub address: String,
    socket: std::net::TcpListener,
    /// Stops this server accepting; its open connections stay until the drain ends them.
    stop: CancellationToken,
}

impl Listener {
    /// The socket for the next server on the same address.
    pub fn socket(&self) -> anyhow::Result<std::net::TcpListener> {
        self.socket
            .try_clone()
            .context("cannot share the listening socket")
    }

    /// Stops accepting (the next server, if any, has the socket by now).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Binds `addr` (the config's `key`), without a server yet.
pub(super) fn bind(addr: &str, key: &str) -> anyhow::Result<std::net::TcpListener> {
    let parsed: SocketAddr = addr
        .parse()
        .with_context(|| format!("{key}: `{addr}` is not an address"))?;
    let socket = std::net::TcpListener::bind(parsed)
        .with_context(|| format!("cannot listen on {addr} ({key})"))?;
    socket
        .set_nonblocking(true)
        .with_context(|| format!("cannot listen on {addr} ({key})"))?;
    Ok(socket)
}

/// The server's end of `socket`, and the socket kept for the next server.
fn listener_for(
    socket: std::net::TcpListener,
    what: &str,
) -> anyhow::Result<(TcpListener, std::net::TcpListener)> {
    let served = socket
        .try_clone()
        .context("cannot share the listening socket")?;
    let listener = TcpListener::from_std(served)?;
    // The address actually bound (port 0 picks one): tests and scripts read this line.
    tracing::info!(address = %listener.local_addr()?, "{what} listening");
    Ok((listener, socket))
}

fn server_options(config: &Config) -> ServerOptions {
    ServerOptions {
        header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms.max(1)),
        body_read_timeout: Duration::from_millis(config.http.body_read_timeout_ms.max(1)),
        slots: Arc::new(Semaphore::new(config.http.max_connections)),
        reserve: None,
        tls: None,
    }
}

/// Serves the HTTP family on `socket`, as the inbound `http`.
pub(super) fn start_http(
    running: &Running,
    config: &Config,
    socket: std::net::TcpListener,
) -> anyhow::Result<Listener> {
    let (listener, socket) = listener_for(socket, "http")?;
    // Without a listener of their own, the admin routes are served here.
    let extra = config
        .listen
        .admin
        .is_none()
        .then(|| running.admin_routes.clone());
    let mut options = server_options(config);
    options.tls = config
        .http
        .tls
        .as_ref()
        .map(Tls::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    // Past the cap, a few connections still reach health checks, and everyone else hears why.
    options.reserve = Some(Reserve {
        slots: Arc::new(Semaphore::new(RESERVE_CONNECTIONS)),
        app: reserve_router(extra.clone()),
    });
    let auth = config.auth.as_ref();
    let access = Access {
        auth: running.auth.clone(),
        websocket_origins: auth.and_then(|a| a.websocket_origins.clone()),
        cors_origins: auth.and_then(|a| a.cors.as_ref().map(|c| c.origins.clone())),
    };
    let inbound = HttpInbound {
        listener,
        hub: running.hub.clone(),
        config: Arc::new(config.http.clone()),
        extra,
        options,
        streams: running.streams.clone(),
        access,
        rpc: running.rpc.clone(),
        queues: running.queues.clone(),
        pairs: running.pairs.clone(),
    };
    let stop = run_inbound(running, HTTP_INBOUND, Box::new(inbound));
    Ok(Listener {
        address: config.listen.http.clone(),
        socket,
        stop,
    })
}

/// Serves the admin routes on their own listener.
pub(super) fn start_admin(
    running: &Running,
    config: &Config,
    socket: std::net::TcpListener,
) -> anyhow::Result<Listener> {
    let (listener, socket) = listener_for(socket, "admin")?;
    let options = ServerOptions {
        slots: Arc::new(Semaphore::new(ADMIN_CONNECTIONS)),
        ..server_options(config)
    };
    let stop = running.stop_accepting.child_token();
    let stopping = Stopping {
        accepting: stop.clone(),
        connections: running.streams.shutdown.clone(),
    };
    let connections = running.streams.connections.clone();
    let routes = running.admin_routes.clone();
    tokio::spawn(serve(listener, routes, options, stopping, connections));
    Ok(Listener {
        address: config.listen.admin.clone().unwrap_or_default(),
        socket,
        stop,
    })
}

/// Serves gRPC on `socket`, as the inbound `grpc`.
pub(super) fn start_grpc(
    running: &Running,
    config: &Config,
    socket: std::net::TcpListener,
) -> anyhow::Result<Listener> {
    let (listener, socket) = listener_for(socket, "grpc")?;
    let inbound = GrpcInbound {
        listener,
        hub: running.hub.clone(),
        config: Arc::new(config.grpc.clone()),
        readiness: running.readiness.clone(),
        streams_end: running.streams.shutdown.clone(),
        connections: running.streams.connections.clone(),
        auth: running.auth.clone(),
        rpc: running.rpc.config.clone(),
        queues: running.queues.clone(),
        tls: config.grpc.tls_config().map_err(|e| anyhow::anyhow!(e))?,
    };
    let stop = run_inbound(running, GRPC_INBOUND, Box::new(inbound));
    Ok(Listener {
        address: config.listen.grpc.clone().unwrap_or_default(),
        socket,
        stop,
    })
}

/// Runs a listener's inbound until its own token (or the drain's) stops it.
fn run_inbound(running: &Running, name: &str, inbound: Box<dyn Inbound>) -> CancellationToken {
    let stop = running.stop_accepting.child_token();
    let ctx = InboundContext {
        name: name.into(),
        pipeline: running.pipeline.clone(),
        dead_letter: None,
        ready: running.readiness.register(name),
        shutdown: stop.clone(),
    };
    running.inbounds.spawn(inbound.run(ctx));
    stop
}
