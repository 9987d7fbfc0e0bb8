//! Switchyard's NATS adapter, on async-nats: an inbound on core NATS subjects (at-most-once)
//! or a durable JetStream consumer (acked only after the sinks confirmed), and an outbound
//! whose deliveries are confirmed by the server (JetStream: the stream's PubAck). Both speak
//! the CloudEvents NATS binding, binary (`ce-` headers) and structured mode; payloads that are
//! not CloudEvents are wrapped. Topics and subjects map level for level (`a/b` ⇄ `a.b`).

pub mod backplane;
mod config;
mod connection;
mod convert;
mod error;
pub mod inbound;
mod outbound;

pub use backplane::NatsBackplaneConfig;
pub use config::{JetStreamConsumer, NatsInboundConfig, NatsMode, NatsOutboundConfig, WrapConfig};
pub use convert::subject::{SubjectError, subject_of};
pub use inbound::NatsInbound;
pub use outbound::{NatsOutbound, NatsOutboundPlan};
