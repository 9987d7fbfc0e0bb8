//! Runs an inbound the way the app does: through the [`Inbound`] contract, with a context
//! built from a test's pipeline and dead-letter sink (behind the same layers as in the app).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use switchyard_core::health::Readiness;
use switchyard_core::inbound::{Inbound, InboundContext};
use switchyard_core::pipeline::{self, DrainGate, Pipeline, PipelineLimits, Sink};

use crate::wait::{eventually, within};

/// A running inbound and what it takes to stop it.
#[derive(Debug)]
pub struct RunningInbound {
    pub name: Arc<str>,
    pub readiness: Readiness,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningInbound {
    /// Starts `inbound` as `name` and waits until it is ready (connected and subscribed).
    pub async fn start(
        name: &str,
        inbound: impl Inbound,
        pipeline: Pipeline,
        dead_letter: Option<Sink>,
    ) -> Self {
        let readiness = Readiness::default();
        let shutdown = CancellationToken::new();
        let (limits, gate) = (PipelineLimits::default(), DrainGate::default());
        let ctx = InboundContext {
            name: name.into(),
            pipeline,
            dead_letter: dead_letter.map(|sink| pipeline::dead_letter(sink, &limits, &gate)),
            ready: readiness.register(&format!("inbound:{name}")),
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(Box::new(inbound).run(ctx));
        let running = Self {
            name: name.into(),
            readiness,
            shutdown,
            task,
        };
        running.wait_ready(true).await;
        running
    }

    /// Waits until the inbound's readiness is `ready`.
    pub async fn wait_ready(&self, ready: bool) {
        let readiness = self.readiness.clone();
        eventually(&format!("inbound ready = {ready}"), move || {
            readiness.report().0 == ready
        })
        .await;
    }

    /// Shuts the inbound down and waits until it has settled what it could and stopped.
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the inbound to stop", self.task)
            .await
            .expect("the inbound task did not panic");
    }
}
