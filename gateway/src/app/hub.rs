//! The hub and the sink routes publish into it through: the embedded in-process hub, or, with
//! `hub.backplane`, a NATS JetStream stream that every gateway's hub is fed from.

use tower::util::BoxCloneSyncService;

use switchyard_core::health::Readiness;
use switchyard_core::hub::{Hub, HubSink};
use switchyard_core::pipeline::Sink;

use crate::config::{BackplaneSettings, Config, ConfigErrors};

/// Builds the hub and its sink; with a backplane, connects and checks its stream first.
pub(super) async fn start(config: &Config, readiness: &Readiness) -> anyhow::Result<(Hub, Sink)> {
    let hub = Hub::new((&config.hub).into());
    let sink: Sink = match &config.hub.backplane {
        None => BoxCloneSyncService::new(HubSink::new(hub.clone())),
        Some(BackplaneSettings::Nats(backplane)) => {
            let ready = readiness.register("hub:backplane");
            let sink = switchyard_nats::backplane::start(backplane, hub.clone(), ready)
                .await
                .map_err(|e| anyhow::anyhow!("hub:\n{}", ConfigErrors(e)))?;
            BoxCloneSyncService::new(sink)
        }
    };
    Ok((hub, sink))
}

/// The backplane's settings errors, for `check`.
pub(super) fn check(config: &Config) -> Vec<String> {
    match &config.hub.backplane {
        None => Vec::new(),
        Some(BackplaneSettings::Nats(backplane)) => backplane.validate("hub.backplane"),
    }
}
