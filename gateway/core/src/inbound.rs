//! The inbound contract: what every source of events (MQTT, AMQP, and the protocols to come)
//! is to the binary. Its config is compiled once, at `check` time, into a validated value
//! (each adapter's `build(name, &config)`), which is the only thing that can `run`; the context
//! carries everything an inbound needs from the app.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::health::ReadinessCheck;
use crate::pipeline::Pipeline;

/// What the app hands an inbound when it starts.
#[derive(Debug)]
pub struct InboundContext {
    /// The configured name: the `from` of routes, a metrics label.
    pub name: Arc<str>,
    /// Where every decoded event goes; its answer decides the protocol's ack.
    pub pipeline: Pipeline,
    /// Where messages that can never be delivered go, with the reason: the dead-letter sink
    /// behind the pipeline's layers ([`crate::pipeline::dead_letter`]), so tracing, metrics
    /// and limits see them too. `None`: the protocol's own refusal (AMQP reject, MQTT ack and
    /// log).
    pub dead_letter: Option<Pipeline>,
    /// Connected and subscribed, for `/readyz`.
    pub ready: ReadinessCheck,
    /// Owned by the app: cancelled when the drain starts; the inbound then stops taking
    /// messages, lets deliveries under way finish (and be acked) and returns.
    pub shutdown: CancellationToken,
}

/// A validated inbound, ready to run.
pub trait Inbound: Send + 'static {
    /// Runs until `ctx.shutdown` is cancelled and the deliveries under way are settled.
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()>;

    /// Checks, before the gateway starts, what the inbound needs to exist on its peer (a
    /// JetStream stream and durable consumer); errors name the setting, and the gateway
    /// refuses to start. Only the peer's answer counts: a peer that cannot be reached now is
    /// not an error here (the inbound reconnects, and readiness says so).
    fn preflight(&self) -> BoxFuture<'_, Result<(), Vec<String>>> {
        Box::pin(async { Ok(()) })
    }
}
