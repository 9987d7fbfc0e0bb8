//! Settings of one webhook outbound (`outbounds.NAME` with `type: webhook`).

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_core::secret::Secret;

/// A webhook outbound.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are POSTed (`http://` only for now).
    pub url: String,
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
    /// `Debug`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Requests in flight at once; further deliveries wait. Default 256.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// How events are encoded on the wire.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookMode {
    #[default]
    Binary,
    Structured,
}

/// Retries with exponential backoff: attempt n waits `initial_backoff_ms * 2^(n-1)`, at most
/// `max_backoff_ms`, with the upper half randomised when `jitter` is on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included. Default 5.
    pub attempts: u32,
    /// Default 100.
    pub initial_backoff_ms: u64,
    /// Default 5 000.
    pub max_backoff_ms: u64,
    /// Default true.
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 5_000,
            jitter: true,
        }
    }
}

const fn default_timeout_ms() -> u64 {
    5_000
}

const fn default_max_in_flight() -> usize {
    256
}
