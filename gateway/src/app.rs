//! Wiring: config becomes runtime objects (sinks, route table, pipeline, hub), then listeners,
//! then the drain. [`Gateway::build`] opens no socket, so `switchyard check` runs it too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::util::BoxCloneSyncService;

use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;
use switchyard_core::hub_sink::HubSink;
use switchyard_core::pipeline::{self, PipelineLimits, Sink};
use switchyard_http::server::{ServerOptions, serve};
use switchyard_http::webhook::Webhook;
use switchyard_http::{HttpState, router};
use switchyard_routes::{RouteTable, Router};

use crate::admin;
use crate::config::{Config, ConfigErrors, OutboundConfig};

/// The inbound name of events published over the HTTP family.
pub const HTTP_INBOUND: &str = "http";
/// The sink name of the built-in hub.
pub const HUB_SINK: &str = "hub";

/// A gateway built from a valid config, not yet listening.
#[derive(Debug)]
pub struct Gateway {
    config: Config,
    http: HttpState,
    readiness: Readiness,
}

impl Gateway {
    /// Builds every runtime object; reports every config error at once.
    pub fn build(config: Config) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let hub = Hub::new((&config.hub).into());
        let mut sinks: HashMap<String, Sink> = HashMap::new();
        sinks.insert(
            HUB_SINK.into(),
            BoxCloneSyncService::new(HubSink::new(hub.clone())),
        );
        for (name, outbound) in &config.outbounds {
            if name == HUB_SINK {
                errors.push(format!(
                    "outbounds.{name}: `hub` is the built-in hub's name"
                ));
                continue;
            }
            match outbound {
                OutboundConfig::Webhook(cfg) => match Webhook::new(name, cfg) {
                    Ok(w) => drop(sinks.insert(name.clone(), BoxCloneSyncService::new(w))),
                    Err(es) => {
                        errors.extend(es.into_iter().map(|e| format!("outbounds.{name}.{e}")))
                    }
                },
            }
        }
        let inbounds = [HTTP_INBOUND.to_owned()];
        let table = RouteTable::compile(&config.routes, &sinks, &inbounds).unwrap_or_else(|es| {
            errors.extend(es);
            RouteTable::default()
        });
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let limits = PipelineLimits {
            max_in_flight: config.limits.max_in_flight,
        };
        let http = HttpState {
            pipeline: pipeline::build(Router::new(table), &limits),
            hub,
            config: Arc::new(config.http.clone()),
            inbound: HTTP_INBOUND.into(),
            shutdown: CancellationToken::new(),
            websockets: TaskTracker::new(),
        };
        Ok(Self {
            config,
            http,
            readiness: Readiness::default(),
        })
    }

    /// Listens until SIGTERM or SIGINT, then drains.
    pub async fn run(self, metrics: PrometheusHandle) -> anyhow::Result<()> {
        let http_addr: SocketAddr = self.config.listen.http.parse()?;
        let listener = TcpListener::bind(http_addr)
            .await
            .with_context(|| format!("cannot listen on {http_addr} (listen.http)"))?;
        let admin_routes = admin::router(self.readiness.clone(), self.http.hub.clone(), metrics);
        let mut app = router(self.http.clone());
        let connections = TaskTracker::new();
        let options = ServerOptions {
            header_read_timeout: Duration::from_millis(
                self.config.http.header_read_timeout_ms.max(1),
            ),
            max_connections: self.config.http.max_connections,
        };
        let shutdown = self.http.shutdown.clone();
        match &self.config.listen.admin {
            None => app = app.merge(admin_routes),
            Some(addr) => {
                let addr: SocketAddr = addr.parse()?;
                let admin_listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (listen.admin)"))?;
                tracing::info!(address = %admin_listener.local_addr()?, "admin listening");
                let admin_options = ServerOptions {
                    max_connections: 64,
                    ..options.clone()
                };
                tokio::spawn(serve(
                    admin_listener,
                    admin_routes,
                    admin_options,
                    shutdown.clone(),
                    connections.clone(),
                ));
            }
        }
        // The address actually bound (port 0 picks one): tests and scripts read this line.
        tracing::info!(address = %listener.local_addr()?, "http listening");
        self.readiness.register("http").set(true);
        let server = tokio::spawn(serve(
            listener,
            app,
            options,
            shutdown.clone(),
            connections.clone(),
        ));
        let signal = wait_for_signal().await?;
        tracing::info!(%signal, "draining");
        self.drain(server, connections).await;
        Ok(())
    }

    /// Stops accepting, ends streams (WebSockets close with 1001), and gives in-flight
    /// requests the grace period to finish.
    async fn drain(self, server: tokio::task::JoinHandle<()>, connections: TaskTracker) {
        self.readiness.start_draining();
        self.http.shutdown.cancel();
        let _ = server.await;
        connections.close();
        self.http.websockets.close();
        let grace = Duration::from_millis(self.config.shutdown.grace_ms);
        let finished = tokio::time::timeout(grace, async {
            connections.wait().await;
            self.http.websockets.wait().await;
        })
        .await;
        match finished {
            Ok(()) => tracing::info!("drained"),
            Err(_) => tracing::warn!(
                connections = connections.len(),
                websockets = self.http.websockets.len(),
                "grace period over; closing what is left"
            ),
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
