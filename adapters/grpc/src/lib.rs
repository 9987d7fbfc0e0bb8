//! Switchyard's gRPC adapter, on tonic: a listener that serves `switchyard.v1.Gateway`
//! (publish, batch, subscribe with resume) and the de-facto `io.cloudevents.v1.CloudEventService`
//! on the pipeline and the hub, with `grpc.health.v1.Health` and reflection; and an outbound
//! that calls a backend's `Publish`. The schemas are the repository's `proto/` files.

mod call;
mod caller;
mod cloudevent_service;
mod config;
mod deadline;
mod health;
pub mod inbound;
mod outbound;
mod proto;
mod publish;
mod queues;
mod shared;
mod size_limit;
pub mod status;
mod subscribe;
mod wire;

pub use config::GrpcConfig;
pub use inbound::GrpcInbound;
pub use outbound::{GrpcOutbound, GrpcOutboundConfig, GrpcOutboundPlan, GrpcService};
pub use proto::{DESCRIPTORS, cloudevents_v1, switchyard_v1};
pub use wire::SubscribeResponse;
