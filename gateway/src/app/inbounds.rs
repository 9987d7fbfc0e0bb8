//! The registration list of inbound protocols: the one place the binary names them. A new
//! protocol is a folder under `adapters/`, a variant of `InboundConfig`, and one line here.

use switchyard_amqp::inbound::AmqpInbound;
use switchyard_core::inbound::Inbound;
use switchyard_mqtt::inbound::MqttInbound;
use switchyard_nats::NatsInbound;

use crate::config::InboundConfig;

/// Compiles the inbound `name` into a value that can run, or every error in its config.
pub(super) fn build(name: &str, kind: &InboundConfig) -> Result<Box<dyn Inbound>, Vec<String>> {
    match kind {
        InboundConfig::Mqtt(cfg) => boxed(MqttInbound::build(name, cfg)),
        InboundConfig::Amqp(cfg) => boxed(AmqpInbound::build(name, cfg)),
        InboundConfig::Nats(cfg) => boxed(NatsInbound::build(name, cfg)),
    }
}

fn boxed<I: Inbound>(built: Result<I, Vec<String>>) -> Result<Box<dyn Inbound>, Vec<String>> {
    built.map(|inbound| Box::new(inbound) as Box<dyn Inbound>)
}
