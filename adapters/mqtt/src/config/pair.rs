//! `pairs.NAME.mqtt`: an exclusive pair whose other peer is a device on MQTT, as a topic pair:
//! what the device publishes on `subscribe` goes to the WebSocket peer, and what the WebSocket
//! peer sends is published on `publish`.

use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_core::retry::RetryConfig;
use switchyard_core::secret::Secret;
use switchyard_core::tls::ClientTls;
use switchyard_core::topic::validate_topic_name;
use switchyard_core::validation::Errors;

use super::link::Link;
use super::validate::{check_qos, check_subscription};
use super::{MqttVersion, default_keep_alive_s, default_max_packet_size, default_qos};

/// The MQTT side of a pair.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttPairConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// With mqtts://: trust only this CA (omitted: the system's bundle).
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// With mqtts://: a client certificate (mutual TLS), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// With mqtts:// and `tls_cert_file`: its private key.
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// Default `switchyard-pair-NAME-` and a random suffix.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `5` (default) or `3.1.1`.
    #[serde(default)]
    pub version: MqttVersion,
    /// The device's output (a filter): each message on it is one frame to the WebSocket peer
    /// (text when it is UTF-8, else binary). While no WebSocket peer is joined, the device's
    /// messages are dropped and counted: a pair is a live line, not a queue.
    pub subscribe: String,
    /// The device's input (a topic): each frame of the WebSocket peer is published here.
    pub publish: String,
    /// QoS of both directions: 0, 1 (default) or 2.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// Keep-alive interval in seconds (at least 5). Default 30.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u16,
    /// Largest packet, in bytes. Default 1 048 576.
    #[serde(default = "default_max_packet_size")]
    pub max_packet_size: u32,
    /// User name for the broker, if it requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the broker (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Waits between reconnection attempts.
    #[serde(default)]
    pub reconnect: RetryConfig,
}

impl MqttPairConfig {
    /// Every problem, each naming its key under `path` (`pairs.device-7.mqtt`).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let (mut errors, link) = (Errors::new(path), self.link());
        link.validate_address(&mut errors);
        errors.check("subscribe", check_subscription(&self.subscribe));
        errors.check(
            "publish",
            validate_topic_name(&self.publish).map_err(|e| e.to_string()),
        );
        errors.check("qos", check_qos(self.qos));
        link.validate_limits(&mut errors);
        link.validate_session(&mut errors);
        errors.into_vec()
    }

    pub(crate) fn link(&self) -> Link<'_> {
        Link {
            url: &self.url,
            client_id: self.client_id.as_deref(),
            version: self.version,
            keep_alive_s: self.keep_alive_s,
            max_packet_size: self.max_packet_size,
            username: self.username.as_ref(),
            password: self.password.as_ref(),
            reconnect: &self.reconnect,
            tls: ClientTls::new(&self.tls_ca_file, &self.tls_cert_file, &self.tls_key_file),
        }
    }
}
