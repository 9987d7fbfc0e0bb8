//! The registration list of outbound protocols: the one place the binary names them. A new
//! protocol is a folder under `adapters/`, a variant of `OutboundConfig`, and one line here.

use switchyard_amqp::AmqpOutbound;
use switchyard_core::outbound::Outbound;
use switchyard_grpc::GrpcOutbound;
use switchyard_http::webhook::Webhook;
use switchyard_mqtt::MqttOutbound;
use switchyard_nats::NatsOutbound;

use crate::config::OutboundConfig;

/// Compiles the outbound `name` into a value that can start, or every error in its config.
pub(super) fn build(name: &str, kind: &OutboundConfig) -> Result<Box<dyn Outbound>, Vec<String>> {
    match kind {
        OutboundConfig::Webhook(cfg) => boxed(Webhook::build(name, cfg)),
        OutboundConfig::Mqtt(cfg) => boxed(MqttOutbound::build(name, cfg)),
        OutboundConfig::Amqp(cfg) => boxed(AmqpOutbound::build(name, cfg)),
        OutboundConfig::Nats(cfg) => boxed(NatsOutbound::build(name, cfg)),
        OutboundConfig::Grpc(cfg) => boxed(GrpcOutbound::build(name, cfg)),
    }
}

/// The outbounds that can answer a request (`POST /rpc`): webhooks (the response is the
/// reply), AMQP (`reply_to` and `correlation_id`), MQTT 5 (Response Topic and Correlation
/// Data) and gRPC `switchyard.v1.Gateway` backends (their `Call`).
pub(super) fn repliers(config: &crate::config::Config) -> std::collections::HashSet<String> {
    config
        .outbounds
        .iter()
        .filter(|(_, kind)| match kind {
            OutboundConfig::Webhook(_) | OutboundConfig::Amqp(_) => true,
            OutboundConfig::Mqtt(mqtt) => mqtt.version == switchyard_mqtt::MqttVersion::V5,
            OutboundConfig::Grpc(grpc) => grpc.service == switchyard_grpc::GrpcService::Gateway,
            OutboundConfig::Nats(_) => false,
        })
        .map(|(name, _)| name.clone())
        .collect()
}

fn boxed<O: Outbound>(built: Result<O, Vec<String>>) -> Result<Box<dyn Outbound>, Vec<String>> {
    built.map(|outbound| Box::new(outbound) as Box<dyn Outbound>)
}
