//! Switchyard's AMQP 0-9-1 adapter (lapin, RabbitMQ).
//!
//! - [`inbound::run`] consumes a queue and hands each message to the pipeline, acking it only
//!   after the sinks confirmed; failures that may heal are requeued after a delay, the others
//!   go to a dead-letter sink or the queue's dead-letter exchange.
//! - [`AmqpOutbound`] is a sink (`tower::Service<Event>`) publishing with publisher confirms
//!   and `mandatory`, answering only once the broker took the message.
//!
//! Events travel in binary mode (attributes in `cloudEvents_` headers) or structured mode
//! (`application/cloudevents+json` bodies); see `convert.rs` for the mapping. Both sides keep
//! their own connection and reconnect with capped, jittered backoff.

mod config;
mod connection;
mod convert;
mod error;
pub mod inbound;
mod outbound;
pub mod queue;

pub use config::{
    AmqpInboundConfig, AmqpMode, AmqpOutboundConfig, BindingConfig, ExchangeConfig, ExchangeKind,
    HeaderPrefix, QueueConfig, QueueType, TopologyConfig, WrapConfig,
};
pub use outbound::{AmqpOutbound, AmqpOutboundPlan, DIRECT_REPLY_TO};
pub use queue::AmqpQueueConfig;
