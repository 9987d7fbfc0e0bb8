//! Wiring: config becomes runtime objects (sinks, route table, pipeline, hub, inbounds), then
//! listeners, then the drain. [`check`] validates everything without opening a socket or a
//! broker connection, which is what `switchyard check` runs; [`run`] builds and serves.

mod drain;
mod hub;
mod inbounds;
mod listeners;
mod outbounds;
mod queues;
mod reload;
mod sinks;
mod sources;
mod triggers;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tokio::signal::unix::{Signal, SignalKind, signal};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchyard_core::auth::Authenticator;
use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;
use switchyard_core::pipeline::{self, DrainGate, Pipeline, PipelineLimits, Sink};
use switchyard_http::inbound::Streams;
use switchyard_http::rpc::Rpc;
use switchyard_routes::{RouteTable, Router};

use crate::admin;
use crate::config::{Config, ConfigErrors};
use crate::logging::LogLevel;
use listeners::Listener;
use sources::Source;
use triggers::Triggers;

/// The inbound name of events published over the HTTP family.
pub const HTTP_INBOUND: &str = "http";
/// The inbound name of events published over gRPC.
pub const GRPC_INBOUND: &str = "grpc";
/// The sink name of the built-in hub.
pub const HUB_SINK: &str = "hub";

/// Every error in `config` that can be found without a network connection (key and
/// certificate files are read), each naming its key; or what is valid but likely not meant
/// (routes `POST /rpc` reaches without exactly one reply-capable sink).
pub fn check(config: &Config) -> Result<Vec<String>, ConfigErrors> {
    let mut errors = hub::check(config);
    if let Err(found) = authenticator(config) {
        errors.extend(found);
    }
    if let Some(Err(found)) = config
        .http
        .tls
        .as_ref()
        .map(switchyard_http::tls::Tls::load)
    {
        errors.push(found);
    }
    let hub = Hub::new((&config.hub).into());
    let placeholders = sinks::placeholders(config, &hub, &mut errors);
    sinks::check_inbounds(config, &placeholders, &mut errors);
    let warnings = match routes(config, &placeholders) {
        Ok(table) => table.request_warnings(HTTP_INBOUND),
        Err(es) => {
            errors.extend(es);
            Vec::new()
        }
    };
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads `path` (or the embedded default) and checks it: the config, or every error of both
/// steps.
pub fn read(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    let (mut config, mut errors) = match path {
        None => crate::config::load_default(),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => crate::config::load(&text),
            Err(e) => {
                return Err(ConfigErrors(vec![format!(
                    "cannot read {}: {e}",
                    path.display()
                )]));
            }
        },
    };
    match check(&config) {
        Ok(warnings) => config.warnings = warnings,
        Err(more) => errors.extend(more.0),
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The listeners' authenticator (its keys loaded): `None` without an `auth:` section (open).
fn authenticator(config: &Config) -> Result<Authenticator, Vec<String>> {
    Ok(load_auth(config)?.map(|auth| std::sync::Arc::new(auth) as _))
}

/// [`authenticator`] for listeners that serve now: a JWKS URL starts being fetched (inside the
/// runtime).
fn serving_authenticator(config: &Config) -> Result<Authenticator, Vec<String>> {
    let Some(auth) = load_auth(config)? else {
        return Ok(None);
    };
    if let Some(refresh) = auth.jwks_refresh() {
        tokio::spawn(refresh);
    }
    Ok(Some(std::sync::Arc::new(auth)))
}

fn load_auth(config: &Config) -> Result<Option<switchyard_auth::Auth>, Vec<String>> {
    config
        .auth
        .as_ref()
        .map(switchyard_auth::Auth::load)
        .transpose()
}

/// The route table over `sinks`, knowing which of them can answer a request.
fn routes(config: &Config, sinks: &HashMap<String, Sink>) -> Result<RouteTable, Vec<String>> {
    let table = RouteTable::compile(&config.routes, sinks, &inbound_names(config))?;
    Ok(table.with_repliers(&outbounds::repliers(config)))
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
    /// The configuration running now; a reload replaces it once applied.
    config: Config,
    hub: Hub,
    pipeline: Pipeline,
    /// The pipeline's last service: a reload swaps its route table.
    router: Router,
    limits: PipelineLimits,
    readiness: Readiness,
    /// The hub and every outbound, by name, as the route table names them.
    sinks: HashMap<String, Sink>,
    /// The broker inbounds, by name.
    sources: BTreeMap<String, Source>,
    http: Option<Listener>,
    admin: Option<Listener>,
    grpc: Option<Listener>,
    /// `/healthz`, `/readyz`, `/metrics`, for whichever listener serves them.
    admin_routes: axum::Router,
    /// The listeners' authenticator, one for all of them: a principal's token cache and rate
    /// bucket are the same whichever listener it comes through.
    auth: Authenticator,
    /// Cancelled first: the listeners stop accepting and the broker inbounds stop taking
    /// messages. Open connections stay, so a publish racing the signal gets an answer. Each
    /// listener and inbound runs on a child token of its own, which a reload cancels alone.
    stop_accepting: CancellationToken,
    /// Closed with it: every new publish, whatever its inbound, is refused (503); the drain
    /// waits for the deliveries already inside before it ends the streams.
    gate: DrainGate,
    /// Deliveries of `confirm: false` routes, waited for with the gate's.
    background: TaskTracker,
    /// Every inbound (the listeners' among them), waited for by the drain.
    inbounds: TaskTracker,
    /// The HTTP family's connections and streams, ended last.
    streams: Streams,
    /// Request-reply settings and the asynchronous replies, kept across listener restarts.
    rpc: Rpc,
    /// The work queues, kept across reloads (they hold messages).
    queues: switchyard_http::queues::Queues,
    /// The exclusive pairs, kept across listener restarts.
    pairs: switchyard_http::Pairs,
}

/// Builds the gateway from a checked `config`, serves until SIGTERM or SIGINT (reloading
/// `path` on SIGHUP, and when it changes if `watch`), then drains.
pub async fn run(
    config: Config,
    path: Option<PathBuf>,
    watch: bool,
    metrics: PrometheusHandle,
    log_level: LogLevel,
) -> anyhow::Result<()> {
    preflight(&config, |_| true).await?;
    let readiness = Readiness::default();
    let (hub, hub_sink) = hub::start(&config, &readiness).await?;
    let admin_routes = admin::router(readiness.clone(), hub.clone(), metrics);
    let mut running = start(config, hub, hub_sink, readiness, admin_routes)?;
    // Before the listeners: a signal that comes once they are up finds its handler.
    let mut stop = StopSignals::new()?;
    let mut triggers = Triggers::new(path, watch);
    reload::register_metrics();
    running.start_listeners()?;
    let signal = loop {
        tokio::select! {
            signal = stop.recv() => break signal,
            trigger = triggers.next() => {
                if let Some(config) = triggers.read(trigger) {
                    reload::apply(&mut running, config, &log_level).await;
                }
            }
        }
    };
    tracing::info!(%signal, "draining");
    drain::drain(running).await;
    Ok(())
}

/// Connects the outbounds, compiles the routes, builds the pipeline, starts the inbounds.
fn start(
    config: Config,
    hub: Hub,
    hub_sink: Sink,
    readiness: Readiness,
    admin_routes: axum::Router,
) -> anyhow::Result<Running> {
    let mut sinks = sinks::connect(&config, hub_sink, &readiness)
        .map_err(|e| anyhow::anyhow!("outbounds:\n{}", ConfigErrors(e)))?;
    let (queues, queue_sinks) = queues::start(&config, &readiness)
        .map_err(|e| anyhow::anyhow!("queues:\n{}", ConfigErrors(e)))?;
    sinks.extend(queue_sinks);
    let pairs = queues::pairs(&config, &readiness)
        .map_err(|e| anyhow::anyhow!("pairs:\n{}", ConfigErrors(e)))?;
    let table =
        routes(&config, &sinks).map_err(|e| anyhow::anyhow!("routes:\n{}", ConfigErrors(e)))?;
    let limits = PipelineLimits {
        max_in_flight: config.limits.max_in_flight,
    };
    let gate = DrainGate::default();
    let router = Router::new(table);
    let background = router.background_deliveries();
    let pipeline: Pipeline = pipeline::build(router.clone(), &limits, &gate);
    let auth = serving_authenticator(&config)
        .map_err(|e| anyhow::anyhow!("auth:\n{}", ConfigErrors(e)))?;
    let config_rpc = config.rpc.clone();
    let mut running = Running {
        config,
        hub,
        pipeline,
        router,
        limits,
        readiness,
        sinks,
        sources: BTreeMap::new(),
        http: None,
        admin: None,
        grpc: None,
        admin_routes,
        auth,
        stop_accepting: CancellationToken::new(),
        gate,
        background,
        inbounds: TaskTracker::new(),
        streams: Streams::default(),
        rpc: Rpc::new(config_rpc),
        queues,
        pairs,
    };
    let entries = running.config.inbounds.clone();
    for (name, entry) in &entries {
        let source = sources::start(&running, name, entry)?;
        running.sources.insert(name.clone(), source);
    }
    Ok(running)
}

impl Running {
    /// Binds and serves the configured listeners: HTTP (with admin), then gRPC.
    fn start_listeners(&mut self) -> anyhow::Result<()> {
        let config = self.config.clone();
        if let Some(addr) = &config.listen.admin {
            let socket = listeners::bind(addr, "listen.admin")?;
            self.admin = Some(listeners::start_admin(self, &config, socket)?);
        }
        let socket = listeners::bind(&config.listen.http, "listen.http")?;
        self.http = Some(listeners::start_http(self, &config, socket)?);
        if let Some(addr) = &config.listen.grpc {
            let socket = listeners::bind(addr, "listen.grpc")?;
            self.grpc = Some(listeners::start_grpc(self, &config, socket)?);
        }
        Ok(())
    }
}

/// Every inbound's [`Inbound::preflight`] (of those `wanted` picks): what must exist on a
/// peer before the gateway starts, or before a reload starts them.
async fn preflight(config: &Config, wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for (name, entry) in config.inbounds.iter().filter(|(name, _)| wanted(name)) {
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

/// SIGTERM and SIGINT, which start the drain.
struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
