//! `grpc:` the gRPC listener's bounds (its address is `listen.grpc`).

use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_core::tls::ServerTlsConfig;

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
    /// TLS on the gRPC listener (`cert_file`, `key_file`, `handshake_timeout_ms`).
    /// Omitted: plaintext (h2c).
    pub tls: Option<ServerTlsConfig>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_concurrent_streams: 256,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            tls: None,
        }
    }
}

impl GrpcConfig {
    /// tonic's TLS config, the files read; the error names the key.
    pub fn tls_config(&self) -> Result<Option<tonic::transport::ServerTlsConfig>, String> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        let read = |key: &str, file: &std::path::Path| {
            std::fs::read(file).map_err(|e| format!("grpc.tls.{key}: {}: {e}", file.display()))
        };
        let cert = read("cert_file", &tls.cert_file)?;
        let key = read("key_file", &tls.key_file)?;
        let identity = tonic::transport::Identity::from_pem(cert, key);
        let config = tonic::transport::ServerTlsConfig::new()
            .identity(identity)
            .timeout(std::time::Duration::from_millis(
                tls.handshake_timeout_ms.max(1),
            ));
        // Client certificates from this CA identify their callers (`auth.mtls`); a caller
        // without one authenticates otherwise.
        Ok(Some(match &tls.client_ca_file {
            None => config,
            Some(file) => config
                .client_ca_root(tonic::transport::Certificate::from_pem(read(
                    "client_ca_file",
                    file,
                )?))
                .client_auth_optional(true),
        }))
    }

    /// Every error, each naming its key under `grpc`.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = self.tls_config() {
            errors.push(e);
        }
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
