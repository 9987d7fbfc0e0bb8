//! Settings of an MQTT inbound (`inbounds.NAME` with `type: mqtt`) and an MQTT outbound
//! (`outbounds.NAME` with `type: mqtt`). The doc comment on each field is the user reference.
//! Validation, which reports every error at once with its key, is in [`validate`].

mod link;
mod pair;
mod validate;
mod version;

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::retry::{RetryConfig, RetryPolicy};
use switchyard_core::secret::Secret;

pub use pair::MqttPairConfig;
pub use validate::BrokerAddress;
pub(crate) use validate::MQTT_MAX_PACKET_SIZE;
pub use version::MqttVersion;

/// An MQTT inbound: subscribes to topic filters and delivers every message to the pipeline,
/// acknowledging it to the broker only once the pipeline confirmed it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttInboundConfig {
    /// The broker, `mqtt://host:port` (`tcp://` also accepted; port 1883 when left out).
    /// `mqtts://host:port` (port 8883 when left out) for TLS.
    pub url: String,
    /// For `mqtts://`: trust only the CA certificates in this PEM file. Omitted: the
    /// system's CA bundle.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// For mutual TLS: the client certificate chain (PEM), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// For mutual TLS: the client's private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Client identifier. Default `switchyard-{inbound name}`. The broker keeps the persistent
    /// session (and so every unacknowledged message) under this id: keep it stable across
    /// restarts, and give each gateway replica its own (two clients with one id keep kicking
    /// each other off the broker).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Protocol version: `5` (default) or `3.1.1` (also `v5`, `v311`). 3.1.1 has no message
    /// properties, so only structured-mode CloudEvents (and wrapped payloads) can arrive.
    #[serde(default)]
    pub version: MqttVersion,
    /// Topic filters to subscribe to (`+` and `#` wildcards; `$share/GROUP/FILTER` for a
    /// shared subscription, which spreads the messages over every client of the group).
    pub subscribe: Vec<String>,
    /// Maximum QoS requested for the subscriptions: 0 or 1 (default). QoS 0 messages are
    /// delivered at most once; QoS 1 messages (QoS 2 publishes arrive as QoS 1) are
    /// acknowledged only after the pipeline confirmed, so none is lost. QoS 2 is refused:
    /// deliveries onwards are at-least-once anyway, and rumqttc cannot resume a QoS 2
    /// exchange after a reconnect (bytebeamio/rumqtt#664: the connection fails forever).
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// MQTT 5: how long, in seconds, the broker keeps the session (subscriptions and
    /// unacknowledged messages) after a disconnect. Default 3 600. 0 ends the session at
    /// disconnect, which loses the messages in flight.
    #[serde(default = "default_session_expiry_s")]
    pub session_expiry_s: u32,
    /// Start with a fresh session on every connect (Clean Start / Clean Session), discarding
    /// what the broker kept for this client id. Default false: messages not yet acknowledged
    /// when the connection dropped are redelivered after the reconnect.
    #[serde(default)]
    pub clean_start: bool,
    /// Keep-alive interval in seconds (at least 5): a silent broker is detected after about
    /// 1.5 times this. Default 30.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u16,
    /// Largest MQTT packet accepted, in bytes (MQTT 5 tells the broker, which then does not
    /// send larger ones). At least 65 536, as CloudEvents intermediaries must forward 64 KiB
    /// events. Default 1 048 576 (1 MiB).
    #[serde(default = "default_max_packet_size")]
    pub max_packet_size: u32,
    /// Messages being delivered at once (MQTT 5: also the Receive Maximum asked of the broker).
    /// Acknowledgements go out in the order messages arrived, so a slow message holds back the
    /// acknowledgement of later ones; at this many the inbound stops taking messages. Default 100.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// User name for the broker, if it requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Waits between delivery attempts of a message the pipeline could not deliver for a
    /// reason that may heal (a sink down, a timeout). The message is retried until it is
    /// delivered or the gateway stops; it is never acknowledged before.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Waits between reconnection attempts.
    #[serde(default)]
    pub reconnect: RetryConfig,
    /// On shutdown, how long deliveries already under way may take to finish (and be
    /// acknowledged) before the inbound disconnects, in milliseconds. Messages not finished
    /// by then are redelivered by the broker later. Default 5 000.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// How a message that is not a CloudEvent becomes one.
    #[serde(default)]
    pub wrap: WrapConfig,
}

/// How a payload that is not a CloudEvent is wrapped in a new event: a fresh id (UUID v7),
/// the time of arrival, `source`, `type` and `subject` from these templates, and the payload
/// as data.
///
/// Templates may use `{topic}` (the whole MQTT topic), `{broker}` (`host:port` of `url`) and
/// the names of `topic_pattern`'s levels. In `source`, values are percent-encoded so the
/// result stays a URI-reference.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MqttWrapConfig")]
pub struct WrapConfig {
    /// Names topic levels for the templates: `sensors/{device}/temperature` makes `{device}`
    /// the second level. `+` matches one level unnamed, a final `#` any number of levels.
    /// When a topic does not match, `subject` is left out, and a `source` or `type` that needs
    /// a level makes the message undecodable (dead-lettered with the reason).
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// Template of the `source` attribute. Default `mqtt://{broker}/{topic}`.
    #[serde(default = "default_wrap_source")]
    pub source: String,
    /// Template of the `type` attribute. Default `dev.switchyard.mqtt.message`.
    #[serde(default = "default_wrap_type", rename = "type")]
    pub ty: String,
    /// Template of the `subject` attribute; left out when absent (the default).
    #[serde(default)]
    pub subject: Option<String>,
    /// Media type of payloads that arrive without one (MQTT 3.1.1 has no Content Type). When
    /// absent (the default), a payload that is valid JSON becomes JSON data
    /// (`application/json`) and anything else opaque binary data without a
    /// `datacontenttype`.
    #[serde(default)]
    pub datacontenttype: Option<String>,
}

/// An MQTT outbound: publishes each event and confirms it only once the broker acknowledged
/// that very message (PUBACK for QoS 1, PUBCOMP for QoS 2; written to the socket for QoS 0).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttOutboundConfig {
    /// The broker, `mqtt://host:port` (`tcp://` also accepted; port 1883 when left out).
    pub url: String,
    /// For `mqtts://`: trust only the CA certificates in this PEM file. Omitted: the
    /// system's CA bundle.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// For mutual TLS: the client certificate chain (PEM), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// For mutual TLS: the client's private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Client identifier. Default `switchyard-{outbound name}-{8 random hex digits}`: the
    /// outbound uses a clean session, so a fresh id per process keeps replicas apart.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Protocol version: `5` (default) or `3.1.1` (also `v5`, `v311`).
    #[serde(default)]
    pub version: MqttVersion,
    /// Topic template: `{topic}` is the topic the route delivers to (the inbound topic unless
    /// the route rewrote it), any other `{name}` an attribute of the event. An event for which
    /// it renders no valid topic name (a wildcard, an empty level, a missing attribute) is
    /// refused for good (dead-lettered). Default `{topic}`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// QoS of the publishes: 0, 1 (default) or 2.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Publish with the retain flag. Default false.
    #[serde(default)]
    pub retain: bool,
    /// `binary` (attributes as MQTT 5 user properties, data as the payload; the default with
    /// MQTT 5) or `structured` (the whole event as `application/cloudevents+json`; the only
    /// mode of MQTT 3.1.1).
    #[serde(default)]
    pub mode: Option<MqttMode>,
    /// Largest packet published, in bytes (at least 65 536): a larger event is refused for
    /// good instead of being sent. With MQTT 5, a smaller Maximum Packet Size announced by the
    /// broker applies as well. Default 1 048 576 (1 MiB).
    #[serde(default = "default_max_packet_size")]
    pub max_packet_size: u32,
    /// How long the broker may take to acknowledge a publish, in milliseconds, before the
    /// delivery fails as timed out (and the source retries). Default 10 000.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Publishes awaiting the broker's acknowledgement at once; further deliveries wait.
    /// Default 100.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// MQTT 5: the Response Topic of requests (`POST /rpc`) routed here, subscribed with the
    /// first request of each connection; each request carries a fresh Correlation Data. Default
    /// `switchyard/replies/{client id}`, one per gateway. 3.1.1 cannot carry requests.
    #[serde(default)]
    pub reply_topic: Option<String>,
    /// Requests waiting for their replies at once; beyond it a request is refused (503).
    /// Default 10 000.
    #[serde(default = "default_max_pending_replies")]
    pub max_pending_replies: usize,
    /// Keep-alive interval in seconds (at least 5). Default 30.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u16,
    /// User name for the broker, if it requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Waits between reconnection attempts. While disconnected, deliveries fail at once as
    /// unavailable, so their sources retry.
    #[serde(default)]
    pub reconnect: RetryConfig,
}

/// How a CloudEvent is laid out in an MQTT message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MqttMode {
    /// Attributes as user properties, `datacontenttype` as Content Type, data as the payload.
    Binary,
    /// The whole event in the JSON event format.
    Structured,
}

/// `retry:` of an inbound: until the message settles, from 100 ms doubling up to 30 s.
pub const INBOUND_RETRY: RetryPolicy = RetryPolicy::new(None, 100, 30_000);
/// `reconnect:`: forever, from 100 ms doubling up to 30 s.
pub const RECONNECT: RetryPolicy = RetryPolicy::new(None, 100, 30_000);

impl Default for WrapConfig {
    fn default() -> Self {
        Self {
            topic_pattern: None,
            source: default_wrap_source(),
            ty: default_wrap_type(),
            subject: None,
            datacontenttype: None,
        }
    }
}

impl MqttInboundConfig {
    /// The client id to connect with.
    pub fn client_id_for(&self, inbound: &str) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("switchyard-{inbound}"))
    }
}

impl MqttOutboundConfig {
    /// The client id to connect with (a fresh one per call when none is configured).
    pub fn client_id_for(&self, outbound: &str) -> String {
        self.client_id.clone().unwrap_or_else(|| {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("switchyard-{outbound}-{}", &suffix[..8])
        })
    }

    /// The mode in effect: binary by default with MQTT 5, structured with 3.1.1.
    pub fn effective_mode(&self) -> MqttMode {
        match (self.mode, self.version) {
            (Some(mode), MqttVersion::V5) => mode,
            (None, MqttVersion::V5) => MqttMode::Binary,
            (_, MqttVersion::V311) => MqttMode::Structured,
        }
    }
}

const fn default_qos() -> u8 {
    1
}

const fn default_session_expiry_s() -> u32 {
    3_600
}

const fn default_keep_alive_s() -> u16 {
    30
}

/// CloudEvents asks intermediaries to forward events of up to 64 KiB; 1 MiB leaves room for
/// larger ones without letting one message hold much memory.
const fn default_max_packet_size() -> u32 {
    1024 * 1024
}

const fn default_max_pending_replies() -> usize {
    10_000
}

const fn default_inflight() -> u16 {
    100
}

const fn default_shutdown_grace_ms() -> u64 {
    5_000
}

const fn default_confirm_timeout_ms() -> u64 {
    10_000
}

fn default_topic() -> String {
    "{topic}".into()
}

fn default_wrap_source() -> String {
    "mqtt://{broker}/{topic}".into()
}

fn default_wrap_type() -> String {
    "dev.switchyard.mqtt.message".into()
}
