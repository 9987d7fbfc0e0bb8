//! `grpc:` the gRPC listener's bounds (its address is `listen.grpc`).

use schemars::JsonSchema;
use serde::Deserialize;

/// `grpc:` applied to every connection of the gRPC listener.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Largest request message, encoded, in bytes; larger ones are refused with
    /// RESOURCE_EXHAUSTED. Default 1 MiB.
    pub max_message_bytes: usize,
    /// Streams (calls) open at once on one HTTP/2 connection; the client queues the rest.
    /// Default 256.
    pub max_concurrent_streams: u32,
    /// HTTP/2 PING sent after this long without frames, in ms; a peer that does not answer
    /// within `keepalive_timeout_ms` is disconnected. Default 30 000.
    pub keepalive_interval_ms: u64,
    /// How long a PING may go unanswered before the connection is closed, in ms.
    /// Default 10 000.
    pub keepalive_timeout_ms: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_concurrent_streams: 256,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
        }
    }
}

impl GrpcConfig {
    /// Every error, each naming its key under `grpc`.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.max_message_bytes < 1024 {
            errors.push("grpc.max_message_bytes: must be at least 1024".to_owned());
        }
        if self.max_concurrent_streams == 0 {
            errors.push("grpc.max_concurrent_streams: must be at least 1".to_owned());
        }
        if self.keepalive_interval_ms == 0 || self.keepalive_timeout_ms == 0 {
            errors.push(
                "grpc.keepalive_interval_ms, keepalive_timeout_ms: must be at least 1".to_owned(),
            );
        }
        errors
    }
}
