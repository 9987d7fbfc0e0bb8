//! Settings of one webhook outbound (`outbounds.NAME` with `type: webhook`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::retry::{RetryConfig, RetryPolicy};
use switchyard_core::secret::Secret;

/// A webhook outbound.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are POSTed: `http://` or `https://`.
    pub url: String,
    /// For `https://`: trust only the CA certificates in this PEM file (a private CA).
    /// Omitted: the system's CA bundle.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// `binary` (attributes in `ce-` headers, data as the body; default) or `structured`
    /// (the whole event as `application/cloudevents+json`).
    #[serde(default)]
    pub mode: WebhookMode,
    /// Time one attempt may take, headers and body, in milliseconds. Default 5 000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retry policy for failures that may heal.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Extra headers sent with every request (e.g. `authorization`); values are redacted in
    /// logs.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Requests in flight at once; further deliveries wait. Default 256.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// How events are encoded on the wire.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookMode {
    /// Attributes in `ce-` headers, data as the body.
    #[default]
    Binary,
    /// The whole event as `application/cloudevents+json`.
    Structured,
}

/// `retry:` of a webhook: five attempts in all, from 100 ms doubling up to 5 s.
pub const WEBHOOK_RETRY: RetryPolicy = RetryPolicy::new(Some(5), 100, 5_000);

const fn default_timeout_ms() -> u64 {
    5_000
}

const fn default_max_in_flight() -> usize {
    256
}
