//! The broker inbounds while they run, one handle each, so that a reload can stop the ones it
//! changes or removes (each settles what it holds first) and leave the others connected.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use switchyard_core::inbound::InboundContext;
use switchyard_core::pipeline;

use super::Running;
use crate::config::{ConfigErrors, InboundEntry};

/// One running broker inbound.
#[derive(Debug)]
pub(super) struct Source {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Source {
    /// Stops taking messages and waits (up to `grace`) for the deliveries under way to be
    /// settled with the broker; returns whether it finished in time.
    pub async fn stop(self, grace: Duration) -> bool {
        self.stop.cancel();
        tokio::time::timeout(grace, self.task).await.is_ok()
    }
}

/// Starts the inbound `name` on the running pipeline, its dead-letter sink from the sinks
/// running now.
pub(super) fn start(running: &Running, name: &str, entry: &InboundEntry) -> anyhow::Result<Source> {
    let inbound = super::inbounds::build(name, &entry.kind)
        .map_err(|e| anyhow::anyhow!("inbounds:\n{}", ConfigErrors(e)))?;
    let dead_letter = entry
        .dead_letter
        .as_ref()
        .and_then(|d| running.sinks.get(d).cloned())
        .map(|sink| pipeline::dead_letter(sink, &running.limits, &running.gate));
    let stop = running.stop_accepting.child_token();
    let task = running.inbounds.spawn(inbound.run(InboundContext {
        name: Arc::from(name),
        pipeline: running.pipeline.clone(),
        dead_letter,
        ready: running.readiness.register(&readiness_name(name)),
        shutdown: stop.clone(),
    }));
    Ok(Source { stop, task })
}

/// The inbound's check on `/readyz`.
pub(super) fn readiness_name(name: &str) -> String {
    format!("inbound:{name}")
}
