//! Switchyard's MQTT adapter, on rumqttc: an inbound that subscribes and acknowledges each
//! message only after the pipeline confirmed it (in the order the messages arrived, as MQTT
//! requires), and an outbound whose deliveries are confirmed only by the broker's PUBACK or
//! PUBCOMP for that very publish. Both speak MQTT 5 (CloudEvents binary and structured modes)
//! and MQTT 3.1.1 (structured mode); the inbound wraps payloads that are not CloudEvents in
//! new events.

mod config;
mod connection;
mod convert;
mod error;
pub mod inbound;
mod outbound;
pub mod pair;

pub use config::{
    MqttInboundConfig, MqttMode, MqttOutboundConfig, MqttPairConfig, MqttVersion, WrapConfig,
};
pub use outbound::{MqttOutbound, MqttOutboundPlan};
