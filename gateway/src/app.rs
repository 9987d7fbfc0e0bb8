//! Wiring: config becomes runtime objects (sinks, route table, pipeline, hub, inbounds), then
//! listeners, then the drain. [`check`] validates everything without opening a socket or a
//! broker connection, which is what `switchyard check` runs; [`run`] builds and serves.

mod hub;
mod inbounds;
mod listeners;
mod outbounds;
mod sinks;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;
use switchyard_core::inbound::{Inbound, InboundContext};
use switchyard_core::pipeline::{self, DrainGate, Pipeline, PipelineLimits, Sink};
use switchyard_http::inbound::Streams;
use switchyard_routes::{RouteTable, Router};

use crate::admin;
use crate::config::{Config, ConfigErrors};

/// The inbound name of events published over the HTTP family.
pub const HTTP_INBOUND: &str = "http";
/// The inbound name of events published over gRPC.
pub const GRPC_INBOUND: &str = "grpc";
/// The sink name of the built-in hub.
pub const HUB_SINK: &str = "hub";

/// Every error in `config` that can be found without I/O, each naming its key.
pub fn check(config: &Config) -> Result<(), ConfigErrors> {
    let mut errors = hub::check(config);
    let hub = Hub::new((&config.hub).into());
    let placeholders = sinks::placeholders(config, &hub, &mut errors);
    sinks::check_inbounds(config, &placeholders, &mut errors);
    if let Err(es) = RouteTable::compile(&config.routes, &placeholders, &inbound_names(config)) {
        errors.extend(es);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

fn inbound_names(config: &Config) -> Vec<String> {
    [HTTP_INBOUND, GRPC_INBOUND]
        .into_iter()
        .map(str::to_owned)
        .chain(config.inbounds.keys().cloned())
        .collect()
}

/// Everything that runs, and what the drain stops, in this order.
struct Running {
    hub: Hub,
    pipeline: Pipeline,
    readiness: Readiness,
    /// Cancelled first: the listeners stop accepting and the broker inbounds stop taking
    /// messages. Open connections stay, so a publish racing the signal gets an answer.
    stop_accepting: CancellationToken,
    /// Closed with it: every new publish, whatever its inbound, is refused (503); the drain
    /// waits for the deliveries already inside before it ends the streams.
    gate: DrainGate,
    /// Deliveries of `confirm: false` routes, waited for with the gate's.
    background: TaskTracker,
    /// Every inbound (the HTTP family's listener among them), waited for by the drain.
    inbounds: TaskTracker,
    /// The HTTP family's connections and streams, ended last.
    streams: Streams,
}

/// Builds the gateway from a checked `config`, serves until SIGTERM or SIGINT, then drains.
pub async fn run(config: Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    preflight(&config).await?;
    let readiness = Readiness::default();
    let (hub, hub_sink) = hub::start(&config, &readiness).await?;
    let running = start(&config, hub, hub_sink, readiness)?;
    let admin_routes = admin::router(running.readiness.clone(), running.hub.clone(), metrics);
    let (accepting, streams) = (&running.stop_accepting, &running.streams);
    let http = listeners::http(&config, &running.hub, admin_routes, accepting, streams).await?;
    let ctx = InboundContext {
        name: HTTP_INBOUND.into(),
        pipeline: running.pipeline.clone(),
        dead_letter: None,
        ready: running.readiness.register("http"),
        shutdown: running.stop_accepting.clone(),
    };
    running.inbounds.spawn(Box::new(http).run(ctx));
    if let Some(grpc) = listeners::grpc(&config, &running).await? {
        let ctx = InboundContext {
            name: GRPC_INBOUND.into(),
            pipeline: running.pipeline.clone(),
            dead_letter: None,
            ready: running.readiness.register("grpc"),
            shutdown: running.stop_accepting.clone(),
        };
        running.inbounds.spawn(Box::new(grpc).run(ctx));
    }
    let signal = wait_for_signal().await?;
    tracing::info!(%signal, "draining");
    let grace = Duration::from_millis(config.shutdown.grace_ms);
    drain(running, grace).await;
    Ok(())
}

/// Connects the outbounds, compiles the routes, builds the pipeline, starts the inbounds.
fn start(
    config: &Config,
    hub: Hub,
    hub_sink: Sink,
    readiness: Readiness,
) -> anyhow::Result<Running> {
    let sinks = sinks::connect(config, hub_sink, &readiness)
        .map_err(|e| anyhow::anyhow!("outbounds:\n{}", ConfigErrors(e)))?;
    let table = RouteTable::compile(&config.routes, &sinks, &inbound_names(config))
        .map_err(|e| anyhow::anyhow!("routes:\n{}", ConfigErrors(e)))?;
    let limits = PipelineLimits {
        max_in_flight: config.limits.max_in_flight,
    };
    let gate = DrainGate::default();
    let router = Router::new(table);
    let background = router.background_deliveries();
    let pipeline: Pipeline = pipeline::build(router, &limits, &gate);
    let stop_accepting = CancellationToken::new();
    let inbounds = TaskTracker::new();
    for (name, entry) in &config.inbounds {
        let dead_letter = entry
            .dead_letter
            .as_ref()
            .and_then(|d| sinks.get(d).cloned())
            .map(|sink| pipeline::dead_letter(sink, &limits, &gate));
        let ready = readiness.register(&format!("inbound:{name}"));
        let (name, pipeline, shutdown) = (
            Arc::<str>::from(name.as_str()),
            pipeline.clone(),
            stop_accepting.clone(),
        );
        let inbound = self::inbounds::build(&name, &entry.kind)
            .map_err(|e| anyhow::anyhow!("inbounds:\n{}", ConfigErrors(e)))?;
        inbounds.spawn(inbound.run(InboundContext {
            name,
            pipeline,
            dead_letter,
            ready,
            shutdown,
        }));
    }
    Ok(Running {
        hub,
        pipeline,
        readiness,
        stop_accepting,
        gate,
        background,
        inbounds,
        streams: Streams::default(),
    })
}

/// Every inbound's [`Inbound::preflight`]: what must exist on a peer before the gateway starts.
async fn preflight(config: &Config) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for (name, entry) in &config.inbounds {
        let inbound = self::inbounds::build(name, &entry.kind)
            .map_err(|e| anyhow::anyhow!("inbounds:\n{}", ConfigErrors(e)))?;
        if let Err(found) = inbound.preflight().await {
            errors.extend(found);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("inbounds:\n{}", ConfigErrors(errors)))
    }
}

/// The ordered drain. A publish answered 200 was handed to every subscriber connected at that
/// moment, and reaches it:
/// 1. stop accepting (listeners, broker inbounds) and close the gate: new publishes get 503;
/// 2. let the deliveries already inside finish (and broker inbounds ack them);
/// 3. end the streams, each after flushing what it already holds (SSE, WebSocket with 1001,
///    long polls answer), and close connections after their current response.
///
/// Both waits share one grace period; what is left after it is closed.
async fn drain(running: Running, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    running.readiness.start_draining();
    running.stop_accepting.cancel();
    running.gate.close();
    running.inbounds.close();
    let delivered = tokio::time::timeout_at(deadline, async {
        running.gate.finished().await;
        running.inbounds.wait().await;
        // Only now: deliveries that got past the gate may still have started some.
        running.background.close();
        running.background.wait().await;
    })
    .await;
    if delivered.is_err() {
        tracing::warn!(
            deliveries = running.gate.in_flight(),
            unconfirmed = running.background.len(),
            inbounds = running.inbounds.len(),
            "grace period over with deliveries still running; ending streams"
        );
    }
    let streams = &running.streams;
    streams.shutdown.cancel();
    streams.connections.close();
    streams.websockets.close();
    let finished = tokio::time::timeout_at(deadline, async {
        streams.connections.wait().await;
        streams.websockets.wait().await;
    })
    .await;
    match finished {
        Ok(()) => tracing::info!("drained"),
        Err(_) => tracing::warn!(
            connections = streams.connections.len(),
            websockets = streams.websockets.len(),
            "grace period over; closing what is left"
        ),
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
