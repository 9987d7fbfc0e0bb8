//! The keys every MQTT connection has, inbound or outbound (`url`, `client_id`, `version`,
//! `keep_alive_s`, `max_packet_size`, `username`, `password`, `reconnect`): one view of them,
//! checked by one set of rules and turned into connection settings in one place. Each config
//! keeps them as flat keys (serde cannot flatten a struct into a `deny_unknown_fields` one),
//! and lends them out through [`MqttInboundConfig::link`] and [`MqttOutboundConfig::link`].

use std::time::Duration;

use switchyard_core::retry::RetryConfig;
use switchyard_core::secret::Secret;
use switchyard_core::tls::ClientTls;
use switchyard_core::validation::Errors;

use super::validate::{
    BrokerAddress, check_client_id, check_credentials, check_keep_alive, check_packet_size,
};
use super::{MqttInboundConfig, MqttOutboundConfig, MqttVersion, RECONNECT};
use crate::connection::{self, Settings};

/// An MQTT connection's keys, borrowed from an inbound's or an outbound's config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link<'a> {
    pub url: &'a str,
    pub client_id: Option<&'a str>,
    pub version: MqttVersion,
    pub keep_alive_s: u16,
    pub max_packet_size: u32,
    pub username: Option<&'a String>,
    pub password: Option<&'a Secret>,
    pub reconnect: &'a RetryConfig,
    pub tls: ClientTls<'a>,
}

impl Link<'_> {
    /// Checks where to connect and as whom (`url`, `client_id`) into `errors`. The checks
    /// come in three parts so that errors are reported in the order of the keys.
    pub(crate) fn validate_address(&self, errors: &mut Errors<'_>) {
        let address = BrokerAddress::parse(self.url);
        errors.check("url", address.as_ref().map(drop));
        match (address.map(|a| a.tls), self.tls.is_set()) {
            (Ok(false), true) => errors.push("tls_ca_file", "takes an mqtts:// url"),
            (Ok(true), _) => {
                if let Err(e) = self.tls.config() {
                    let (key, reason) = e.split_once(": ").unwrap_or(("tls", &e));
                    errors.push(key, reason);
                }
            }
            _ => {}
        }
        if let Some(client_id) = self.client_id {
            errors.check("client_id", check_client_id(client_id));
        }
    }

    /// Checks `keep_alive_s` and `max_packet_size`.
    pub(crate) fn validate_limits(&self, errors: &mut Errors<'_>) {
        errors.check("keep_alive_s", check_keep_alive(self.keep_alive_s));
        errors.check("max_packet_size", check_packet_size(self.max_packet_size));
    }

    /// Checks the credentials and `reconnect`.
    pub(crate) fn validate_session(&self, errors: &mut Errors<'_>) {
        check_credentials(errors, self.username.is_some(), self.password.is_some());
        errors.extend(self.reconnect.validate(&errors.key("reconnect"), RECONNECT));
    }

    /// The connection settings these keys give, for `client_id` at `address`; the rest
    /// (session, flow control, acks) is the direction's to set.
    pub(crate) fn settings(&self, address: BrokerAddress, client_id: String) -> Settings {
        // Checked by `validate_address`; a file that went missing since is a connection error.
        let tls = address.tls.then(|| self.tls.config()).and_then(|r| {
            r.inspect_err(|e| tracing::error!(error = %e, "MQTT TLS set-up failed"))
                .ok()
        });
        Settings {
            tls,
            address,
            client_id,
            version: self.version,
            keep_alive: Duration::from_secs(self.keep_alive_s.into()),
            clean_start: true,
            session_expiry_s: 0,
            max_packet_size: self.max_packet_size,
            receive_maximum: None,
            outgoing_inflight: 1,
            manual_acks: false,
            credentials: connection::credentials(self.username, self.password),
            request_capacity: 1,
        }
    }
}

impl MqttInboundConfig {
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

impl MqttOutboundConfig {
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
