//! Validation of the MQTT settings: every problem at once, each message starting with the key
//! it is about (`inbounds.devices.qos: must be 0, 1 or 2`), so a bad file is fixed in one go.

use std::fmt;

use switchyard_core::template::TopicTemplate;
use switchyard_core::topic::TopicFilter;
use switchyard_core::validation::Errors;

use super::{INBOUND_RETRY, MqttInboundConfig, MqttMode, MqttOutboundConfig, MqttVersion};
use crate::convert::Wrapper;

/// MQTT's largest packet (the Remaining Length field tops out at 256 MiB).
pub(crate) const MQTT_MAX_PACKET_SIZE: u32 = 268_435_455;
/// CloudEvents: intermediaries MUST forward events of 64 KiB.
const MIN_PACKET_SIZE: u32 = 65_536;
/// rumqttc refuses shorter keep-alives for MQTT 5 (and panics on them).
const MIN_KEEP_ALIVE_S: u16 = 5;
const DEFAULT_PORT: u16 = 1883;
const DEFAULT_TLS_PORT: u16 = 8883;
const INBOUND_QOS_2: &str = "must be 0 or 1: QoS 2 buys nothing here (deliveries onwards are at-least-once) \
     and rumqttc cannot resume a QoS 2 exchange after a reconnect (bytebeamio/rumqtt#664)";

/// The broker's host and port, parsed from `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or IP address; an IPv6 address keeps its brackets, as socket addresses need.
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS.
    pub tls: bool,
}

impl BrokerAddress {
    /// Parses `mqtt://host[:port][/]` (or `tcp://`), or `mqtts://` (or `ssl://`) for TLS.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (rest, tls) = [
            ("mqtt://", false),
            ("tcp://", false),
            ("mqtts://", true),
            ("ssl://", true),
        ]
        .iter()
        .find_map(|(scheme, tls)| Some((url.strip_prefix(scheme)?, *tls)))
        .ok_or_else(|| format!("`{url}` must look like mqtt://host:port or mqtts://host:port"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{url}` must be mqtt://host:port, without path, query or credentials (see username and password)"
            ));
        }
        let default_port = if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT };
        let (host, port) = split_host_port(authority, default_port)
            .ok_or_else(|| format!("`{url}` has no valid host and port"))?;
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(port) => port.parse().ok().filter(|&p| p != 0)?,
    };
    (!host.is_empty() && host != "[]").then_some((host, port))
}

impl MqttInboundConfig {
    /// Every problem with these settings, each naming its key under `path`
    /// (`inbounds.devices`). Empty when the settings are usable.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let (mut errors, link) = (Errors::new(path), self.link());
        link.validate_address(&mut errors);
        if self.subscribe.is_empty() {
            errors.push("subscribe", "at least one topic filter is needed");
        }
        for (i, filter) in self.subscribe.iter().enumerate() {
            errors.check(&format!("subscribe[{i}]"), check_subscription(filter));
        }
        if self.qos > 1 {
            errors.push("qos", INBOUND_QOS_2);
        }
        link.validate_limits(&mut errors);
        if self.inflight == 0 {
            errors.push("inflight", "must be at least 1");
        }
        link.validate_session(&mut errors);
        errors.extend(self.retry.validate(&errors.key("retry"), INBOUND_RETRY));
        if let Err(wrap_errors) = Wrapper::compile(&self.wrap, "broker") {
            for (key, reason) in wrap_errors {
                errors.push(&format!("wrap.{key}"), reason);
            }
        }
        errors.into_vec()
    }
}

impl MqttOutboundConfig {
    /// Every problem with these settings, each naming its key under `path`
    /// (`outbounds.telemetry`). Empty when the settings are usable.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let (mut errors, link) = (Errors::new(path), self.link());
        link.validate_address(&mut errors);
        errors.check("topic", TopicTemplate::parse(&self.topic).map(drop));
        errors.check("qos", check_qos(self.qos));
        if self.version == MqttVersion::V311 && self.mode == Some(MqttMode::Binary) {
            errors.push(
                "mode",
                "binary mode needs MQTT 5 (3.1.1 messages have no properties); use structured",
            );
        }
        link.validate_limits(&mut errors);
        if self.confirm_timeout_ms == 0 {
            errors.push("confirm_timeout_ms", "must be at least 1");
        }
        if self.inflight == 0 {
            errors.push("inflight", "must be at least 1");
        }
        if self.max_pending_replies == 0 {
            errors.push("max_pending_replies", "must be at least 1");
        }
        if let Some(topic) = &self.reply_topic {
            errors.check(
                "reply_topic",
                switchyard_core::topic::validate_topic_name(topic).map_err(|e| e.to_string()),
            );
        }
        link.validate_session(&mut errors);
        errors.into_vec()
    }
}

pub(super) fn check_client_id(client_id: &str) -> Result<(), &'static str> {
    if client_id.is_empty() {
        // A persistent session needs a name; rumqttc also panics on an empty id with one.
        return Err("must not be empty");
    }
    if client_id.len() > usize::from(u16::MAX) || client_id.chars().any(char::is_control) {
        return Err("must be at most 65 535 bytes without control characters");
    }
    Ok(())
}

pub(super) fn check_subscription(filter: &str) -> Result<(), String> {
    let plain = match filter.strip_prefix("$share/") {
        Some(shared) => {
            let (group, rest) = shared
                .split_once('/')
                .ok_or("a shared subscription is `$share/GROUP/FILTER`")?;
            if group.is_empty() || group.contains(['+', '#']) {
                return Err(format!(
                    "`{filter}`: the share group must be a non-empty name without wildcards"
                ));
            }
            rest
        }
        None => filter,
    };
    TopicFilter::parse(plain)
        .map(drop)
        .map_err(|e| e.to_string())
}

pub(super) fn check_qos(qos: u8) -> Result<(), &'static str> {
    match qos {
        0..=2 => Ok(()),
        _ => Err("must be 0, 1 or 2"),
    }
}

pub(super) fn check_keep_alive(seconds: u16) -> Result<(), String> {
    if seconds < MIN_KEEP_ALIVE_S {
        return Err(format!("must be at least {MIN_KEEP_ALIVE_S} seconds"));
    }
    Ok(())
}

pub(super) fn check_packet_size(size: u32) -> Result<(), String> {
    if !(MIN_PACKET_SIZE..=MQTT_MAX_PACKET_SIZE).contains(&size) {
        return Err(format!(
            "must be between {MIN_PACKET_SIZE} (CloudEvents' 64 KiB) and {MQTT_MAX_PACKET_SIZE} (MQTT's maximum)"
        ));
    }
    Ok(())
}

pub(super) fn check_credentials(errors: &mut Errors<'_>, username: bool, password: bool) {
    if password && !username {
        errors.push("password", "needs a username");
    }
}

#[cfg(test)]
mod tests;
