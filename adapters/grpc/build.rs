//! Generates the gRPC services from the repository's `proto/` (the public schema):
//! `switchyard.v1.Gateway` and the de-facto `io.cloudevents.v1.CloudEventService`. The
//! CloudEvents messages themselves come from the CloudEvents crate (`extern_path`), so one
//! generated type serves every codec. protox compiles the files in Rust: no `protoc` needed.
//! The descriptor set is kept for server reflection.

use prost::Message as _;

const FILES: [&str; 2] = [
    "switchyard/v1/gateway.proto",
    "io/cloudevents/v1/cloudevent_service.proto",
];
const CLOUDEVENTS: &str = "::switchyard_core::cloudevent::protobuf::pb";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto");
    let descriptors = protox::compile(FILES, ["../../proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptors.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .extern_path(
            ".io.cloudevents.v1.CloudEvent",
            format!("{CLOUDEVENTS}::CloudEvent"),
        )
        .extern_path(
            ".io.cloudevents.v1.CloudEventBatch",
            format!("{CLOUDEVENTS}::CloudEventBatch"),
        )
        // Streamed to every subscriber: the event inside is encoded once per hub message.
        .extern_path(
            ".switchyard.v1.SubscribeResponse",
            "crate::wire::SubscribeResponse",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
