//! The NATS adapter against the real nats-server with JetStream on 127.0.0.1:4222. The tests
//! fail, never skip, when it is not running. Each test uses its own subjects, streams and
//! consumers, and deletes its streams at the end.

#[path = "nats/conformance.rs"]
mod conformance;
#[path = "nats/core.rs"]
mod core;
#[path = "nats/fake.rs"]
mod fake;
#[path = "nats/support.rs"]
mod support;
