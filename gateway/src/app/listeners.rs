//! The listeners: the HTTP family's, which runs as an inbound, and the admin one when
//! `listen.admin` puts it apart (otherwise the admin routes share the HTTP listener).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use switchyard_core::hub::Hub;
use switchyard_grpc::GrpcInbound;
use switchyard_http::inbound::{HttpInbound, Streams};
use switchyard_http::server::{
    RESERVE_CONNECTIONS, Reserve, ServerOptions, Stopping, reserve_router, serve,
};

use crate::config::Config;

/// Connections the separate admin listener serves at once: its own few, so a flood of public
/// connections cannot lock out health checks and metrics scrapes.
const ADMIN_CONNECTIONS: usize = 64;

/// Binds the HTTP family's listener (and the admin one, started here when it is separate).
/// `accepting` stops both from accepting; `streams` outlive them.
pub(super) async fn http(
    config: &Config,
    hub: &Hub,
    admin_routes: Router,
    accepting: &CancellationToken,
    streams: &Streams,
) -> anyhow::Result<HttpInbound> {
    let listener = bind(&config.listen.http, "listen.http").await?;
    let mut options = ServerOptions {
        header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms.max(1)),
        body_read_timeout: Duration::from_millis(config.http.body_read_timeout_ms.max(1)),
        slots: Arc::new(Semaphore::new(config.http.max_connections)),
        reserve: None,
    };
    let extra = match &config.listen.admin {
        None => Some(admin_routes.clone()),
        Some(addr) => {
            let stopping = Stopping {
                accepting: accepting.clone(),
                connections: streams.shutdown.clone(),
            };
            admin(addr, admin_routes, &options, stopping, streams).await?;
            None
        }
    };
    // Past the cap, a few connections still reach health checks, and everyone else hears why.
    options.reserve = Some(Reserve {
        slots: Arc::new(Semaphore::new(RESERVE_CONNECTIONS)),
        app: reserve_router(extra.clone()),
    });
    // The address actually bound (port 0 picks one): tests and scripts read this line.
    tracing::info!(address = %listener.local_addr()?, "http listening");
    Ok(HttpInbound {
        listener,
        hub: hub.clone(),
        config: Arc::new(config.http.clone()),
        extra,
        options,
        streams: streams.clone(),
    })
}

/// Serves the admin routes on their own listener.
async fn admin(
    addr: &str,
    routes: Router,
    options: &ServerOptions,
    stopping: Stopping,
    streams: &Streams,
) -> anyhow::Result<()> {
    let listener = bind(addr, "listen.admin").await?;
    tracing::info!(address = %listener.local_addr()?, "admin listening");
    let options = ServerOptions {
        slots: Arc::new(Semaphore::new(ADMIN_CONNECTIONS)),
        ..options.clone()
    };
    let connections = streams.connections.clone();
    tokio::spawn(serve(listener, routes, options, stopping, connections));
    Ok(())
}

/// Binds the gRPC listener when `listen.grpc` asks for one.
pub(super) async fn grpc(
    config: &Config,
    running: &super::Running,
) -> anyhow::Result<Option<GrpcInbound>> {
    let Some(addr) = &config.listen.grpc else {
        return Ok(None);
    };
    let listener = bind(addr, "listen.grpc").await?;
    // The address actually bound (port 0 picks one): tests and scripts read this line.
    tracing::info!(address = %listener.local_addr()?, "grpc listening");
    Ok(Some(GrpcInbound {
        listener,
        hub: running.hub.clone(),
        config: Arc::new(config.grpc.clone()),
        readiness: running.readiness.clone(),
        streams_end: running.streams.shutdown.clone(),
        connections: running.streams.connections.clone(),
    }))
}

async fn bind(addr: &str, key: &str) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("{key}: `{addr}` is not an address"))?;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))
}
