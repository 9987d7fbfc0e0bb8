//! What can go wrong in the MQTT adapter, named for what failed. At the tower boundary the
//! outbound reports [`DeliveryError`]s, which sources map to ack, retry or dead-letter; the
//! types here are their causes.

use std::time::Duration;

use switchyard_core::{BoxError, DeliveryError};

/// An event that cannot be laid out as an MQTT message. Retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// An attribute value longer than an MQTT string can be.
    #[error("attribute `{attribute}` is {len} bytes long; an MQTT property holds at most 65 535")]
    PropertyTooLong { attribute: String, len: usize },
    /// The whole message is larger than `max_packet_size`.
    #[error("the message would be a {size}-byte packet, more than max_packet_size ({max})")]
    TooLarge { size: usize, max: u32 },
    /// The whole message is larger than the broker takes (the Maximum Packet Size of its
    /// MQTT 5 CONNACK).
    #[error(
        "the message would be a {size}-byte packet, more than the broker's Maximum Packet Size ({max} bytes, announced in its CONNACK)"
    )]
    TooLargeForBroker { size: usize, max: u32 },
}

/// The MQTT connection failed; the adapters reconnect after a backoff.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    V5(#[from] rumqttc::v5::ConnectionError),
    #[error(transparent)]
    V311(#[from] rumqttc::ConnectionError),
}

/// rumqttc's request queue refused a request: it is full (more requests than the capacity we
/// sized it for) or the event loop is gone.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT client's request queue refused the request (full or closed)")]
pub struct RequestRefused;

impl From<rumqttc::v5::ClientError> for RequestRefused {
    fn from(_: rumqttc::v5::ClientError) -> Self {
        Self
    }
}

impl From<rumqttc::ClientError> for RequestRefused {
    fn from(_: rumqttc::ClientError) -> Self {
        Self
    }
}

/// How long a source waits before retrying a delivery refused while the broker is unreachable.
const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

/// The outbound `sink` cannot publish now; the source should retry.
pub fn unavailable(sink: &str, reason: impl Into<String>) -> BoxError {
    Box::new(DeliveryError::Unavailable {
        sink: sink.to_owned(),
        reason: reason.into(),
        retry_after: Some(RETRY_AFTER_UNAVAILABLE),
    })
}

/// The outbound `sink` will never publish this event.
pub fn rejected(sink: &str, reason: impl Into<String>) -> BoxError {
    Box::new(DeliveryError::Rejected {
        sink: sink.to_owned(),
        reason: reason.into(),
    })
}
