//! Generates the CloudEvents protobuf format's types from the repository's
//! `proto/io/cloudevents/v1/cloudevents.proto`, the public schema. protox compiles the file in
//! Rust, so building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "io/cloudevents/v1/cloudevents.proto";
    println!("cargo:rerun-if-changed=../proto/{proto}");
    let descriptors = protox::compile([proto], ["../proto"])?;
    prost_build::Config::new()
        .bytes(["."])
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
