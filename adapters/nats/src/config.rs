//! Settings of a NATS inbound (`inbounds.NAME` with `type: nats`) and a NATS outbound
//! (`outbounds.NAME` with `type: nats`). The doc comment on each field is the user reference.
//! Validation, which reports every error at once with its key, is in [`validate`].

pub(crate) mod validate;

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::retry::{RetryConfig, RetryPolicy};
use switchyard_core::secret::Secret;

/// `retry:` of a core NATS inbound: until the message is delivered, from 100 ms up to 30 s.
pub const INBOUND_RETRY: RetryPolicy = RetryPolicy::new(None, 100, 30_000);

/// A NATS inbound: core NATS subjects (at-most-once: NATS keeps nothing for a subscriber), or
/// a durable JetStream consumer (at-least-once: acked only after the sinks confirmed).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsInboundConfig {
    /// The server, `nats://host:4222` (`nats://user:password@host:4222` for credentials;
    /// `tls://` for TLS). Redacted in logs.
    pub url: Secret,
    /// Core NATS: the subjects to subscribe to (`*` one token, `>` the rest). Messages that
    /// arrive while the gateway is disconnected or stopped are lost: core NATS is at-most-once.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Core NATS: a queue group, so that each message goes to one member of the group.
    #[serde(default)]
    pub queue_group: Option<String>,
    /// JetStream instead of `subjects`: an existing stream and durable consumer (both must
    /// exist; the gateway refuses to start, naming them, otherwise).
    #[serde(default)]
    pub jetstream: Option<JetStreamConsumer>,
    /// A token, for servers that authenticate by one. Redacted in logs.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A PEM file of root certificates to trust for `tls://` servers.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Messages being delivered at once. JetStream's own bound is the consumer's
    /// `max_ack_pending`. Default 100.
    #[serde(default = "default_inflight")]
    pub inflight: usize,
    /// Core NATS: waits between delivery attempts of a message whose delivery failed in a
    /// way that may heal (it is retried until delivered or the gateway stops).
    #[serde(default)]
    pub retry: RetryConfig,
    /// JetStream: how long a message whose delivery failed in a way that may heal is held
    /// before it is handed back (`nak`), in milliseconds; a sink's longer Retry-After is
    /// honoured up to 60 s. Default 1 000.
    #[serde(default = "default_nak_delay_ms")]
    pub nak_delay_ms: u64,
    /// On shutdown, how long deliveries under way may take to finish (and be acked), in
    /// milliseconds. Default 5 000.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// How a payload that is not a CloudEvent is wrapped into one.
    #[serde(default)]
    pub wrap: WrapConfig,
}

/// `jetstream:` of an inbound.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JetStreamConsumer {
    /// An existing JetStream stream.
    pub stream: String,
    /// A durable pull consumer of `stream`, with explicit acks.
    pub durable: String,
}

/// Attributes of the event made for a payload that is not a CloudEvent. Placeholders:
/// `{inbound}`, `{subject}`, `{topic}` (the subject with `.` as `/`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(rename = "NatsWrapConfig")]
pub struct WrapConfig {
    /// Template of the `source` attribute. Default `nats:{subject}`.
    pub source: String,
    /// Template of the `type` attribute. Default `dev.switchyard.nats.message`.
    #[serde(rename = "type")]
    pub ty: String,
}

impl Default for WrapConfig {
    fn default() -> Self {
        Self {
            source: "nats:{subject}".into(),
            ty: "dev.switchyard.nats.message".into(),
        }
    }
}

/// A NATS outbound: core publishes, or JetStream publishes confirmed by their PubAck.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsOutboundConfig {
    /// As for an inbound.
    pub url: Secret,
    /// The subject, a template: `{topic}` is the event's topic with `/` written as `.`, any
    /// other `{name}` an attribute. Each topic level must be a valid subject token (no `.`,
    /// whitespace, `*` or `>`), or the event is refused. Default `{topic}`.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// Publish to JetStream and confirm only on its PubAck (`Nats-Msg-Id` is the event's id,
    /// so JetStream's duplicate window drops a retried publish). Default false: a core publish,
    /// confirmed once the server has it (flushed), at-most-once onwards.
    #[serde(default)]
    pub jetstream: bool,
    /// `binary` (attributes as `ce-` headers, data as the payload; default) or `structured`.
    #[serde(default)]
    pub mode: NatsMode,
    /// How long the server may take to confirm, in milliseconds. Default 5 000.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// As for an inbound.
    #[serde(default)]
    pub token: Option<Secret>,
    /// As for an inbound.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
}

/// How a CloudEvent is laid out in a NATS message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatsMode {
    /// Attributes as `ce-` headers, data as the payload.
    #[default]
    Binary,
    /// The whole event in the JSON event format.
    Structured,
}

const fn default_inflight() -> usize {
    100
}

const fn default_nak_delay_ms() -> u64 {
    1_000
}

const fn default_shutdown_grace_ms() -> u64 {
    5_000
}

const fn default_confirm_timeout_ms() -> u64 {
    5_000
}

fn default_subject() -> String {
    "{topic}".into()
}
