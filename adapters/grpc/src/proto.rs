//! The generated services and messages (from `proto/`), and the descriptor set that server
//! reflection serves.

/// Package `switchyard.v1`: the `Gateway` service.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod switchyard_v1 {
    include!(concat!(env!("OUT_DIR"), "/switchyard.v1.rs"));
}

/// Package `io.cloudevents.v1`: the de-facto `CloudEventService` (its `CloudEvent` is the
/// CloudEvents crate's).
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod cloudevents_v1 {
    pub use switchyard_core::cloudevent::protobuf::pb::{CloudEvent, CloudEventBatch};
    include!(concat!(env!("OUT_DIR"), "/io.cloudevents.v1.rs"));
}

/// Every file of `proto/` with its imports, encoded, for `grpc.reflection`.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
