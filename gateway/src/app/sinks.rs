//! The sinks a config names: the hub plus every outbound. Checking builds stand-ins (no
//! connection); running connects for real.

use std::collections::HashMap;

use tower::util::BoxCloneSyncService;

use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;
use switchyard_core::hub::HubSink;
use switchyard_core::outbound::OutboundContext;
use switchyard_core::pipeline::{NullSink, Sink};

use super::HUB_SINK;
use crate::config::{Config, OutboundConfig};

/// Validates every outbound and returns stand-in sinks under their names, for compiling routes.
pub(super) fn placeholders(
    config: &Config,
    hub: &Hub,
    errors: &mut Vec<String>,
) -> HashMap<String, Sink> {
    let mut sinks = with_hub(hub);
    for (name, outbound) in &config.outbounds {
        let path = format!("outbounds.{name}");
        if name == HUB_SINK {
            errors.push(format!("{path}: `hub` is the built-in hub's name"));
            continue;
        }
        if name.starts_with("queue:") {
            errors.push(format!("{path}: `queue:` names the work queues' sinks"));
        }
        if let Err(found) = super::outbounds::build(name, outbound) {
            errors.extend(found);
        }
        sinks.insert(name.clone(), BoxCloneSyncService::new(NullSink));
    }
    for name in config.queues.keys() {
        let sink = BoxCloneSyncService::new(NullSink);
        sinks.insert(switchyard_core::queue::sink_name(name), sink);
    }
    sinks
}

/// Validates every inbound and its dead-letter sink.
pub(super) fn check_inbounds(
    config: &Config,
    sinks: &HashMap<String, Sink>,
    errors: &mut Vec<String>,
) {
    for (name, entry) in &config.inbounds {
        let path = format!("inbounds.{name}");
        if name == super::HTTP_INBOUND || name == super::GRPC_INBOUND {
            errors.push(format!("{path}: `{name}` is a listener's inbound name"));
        }
        if let Err(es) = super::inbounds::build(name, &entry.kind) {
            errors.extend(es);
        }
        if let Some(dl) = &entry.dead_letter
            && !sinks.contains_key(dl)
        {
            errors.push(format!("{path}.dead_letter: no outbound named `{dl}`"));
        }
    }
}

/// Connects every outbound (inside the runtime: broker outbounds start their connection tasks).
pub(super) fn connect(
    config: &Config,
    hub_sink: Sink,
    readiness: &Readiness,
) -> Result<HashMap<String, Sink>, Vec<String>> {
    let mut sinks: HashMap<String, Sink> = HashMap::from([(HUB_SINK.to_owned(), hub_sink)]);
    let mut errors = Vec::new();
    for (name, outbound) in &config.outbounds {
        match start(name, outbound, readiness) {
            Ok(sink) => {
                sinks.insert(name.clone(), sink);
            }
            Err(es) => errors.extend(es),
        }
    }
    if errors.is_empty() {
        Ok(sinks)
    } else {
        Err(errors)
    }
}

/// Starts one outbound; its readiness check is `outbound:NAME`.
pub(super) fn start(
    name: &str,
    outbound: &OutboundConfig,
    readiness: &Readiness,
) -> Result<Sink, Vec<String>> {
    let outbound = super::outbounds::build(name, outbound)?;
    let ctx = OutboundContext {
        name: name.into(),
        ready: readiness.register(&readiness_name(name)),
    };
    Ok(outbound.start(ctx))
}

/// The outbound's check on `/readyz`.
pub(super) fn readiness_name(name: &str) -> String {
    format!("outbound:{name}")
}

fn with_hub(hub: &Hub) -> HashMap<String, Sink> {
    let mut sinks: HashMap<String, Sink> = HashMap::new();
    sinks.insert(
        HUB_SINK.into(),
        BoxCloneSyncService::new(HubSink::new(hub.clone())),
    );
    sinks
}
