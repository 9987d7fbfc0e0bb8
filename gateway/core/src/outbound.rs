//! The outbound contract: what every sink (webhook, MQTT, AMQP, and the protocols to come) is
//! to the binary. Its config is compiled once, at `check` time, into a validated value (each
//! adapter's `build(name, &config)`, every error naming its key under `outbounds.NAME`); only
//! that value can `start`, which opens what the sink needs (a broker connection task) and
//! returns the [`Sink`] the router calls.

use std::sync::Arc;

use crate::error::DeliveryError;
use crate::health::ReadinessCheck;
use crate::pipeline::Sink;

/// What the app hands an outbound when it starts.
#[derive(Debug)]
pub struct OutboundContext {
    /// The configured name: the `to` of routes, a metrics label.
    pub name: Arc<str>,
    /// Follows the outbound's connection, for `/readyz` (sinks without one leave it true).
    pub ready: ReadinessCheck,
}

/// A validated outbound, ready to start.
pub trait Outbound: Send + 'static {
    /// Starts the sink; called inside the runtime. It confirms an event only once its peer
    /// did, and fails at once (`Unavailable`) while it cannot reach the peer.
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink;
}

/// Counts one delivery attempt of the outbound `name` in
/// `switchyard_outbound_attempts_total{outbound, result}`, the same labels for every sink:
/// `confirmed`, `rejected` (refused for good), `timeout`, `unavailable`, `error` (not a
/// [`DeliveryError`]).
pub fn count_attempt(name: &str, result: Result<(), Option<&DeliveryError>>) {
    let label = match result {
        Ok(()) => "confirmed",
        Err(Some(
            DeliveryError::Rejected { .. }
            | DeliveryError::InvalidTopic { .. }
            | DeliveryError::TooLarge { .. }
            | DeliveryError::NoRoute { .. }
            | DeliveryError::Forbidden(_)
            | DeliveryError::NoReplier { .. }
            | DeliveryError::BadReply { .. },
        )) => "rejected",
        Err(Some(DeliveryError::Timeout { .. })) => "timeout",
        Err(Some(
            DeliveryError::Unavailable { .. }
            | DeliveryError::Overloaded
            | DeliveryError::RateLimited { .. }
            | DeliveryError::Hub(_)
            | DeliveryError::ShuttingDown,
        )) => "unavailable",
        Err(None) => "error",
    };
    metrics::counter!("switchyard_outbound_attempts_total", "outbound" => name.to_owned(), "result" => label)
        .increment(1);
}
