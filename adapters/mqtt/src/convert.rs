//! MQTT messages ⇄ CloudEvents, per the CloudEvents MQTT protocol binding.
//!
//! Receiving, in this order:
//! - a Content Type starting with `application/cloudevents` is structured mode (the JSON event
//!   format is the only one we read; the binding defines no batch mode);
//! - a `specversion` user property is MQTT 5 binary mode ([`binary`]);
//! - no Content Type and a JSON object with a `specversion` member is structured mode too:
//!   MQTT 3.1.1 has no properties, and MQTT 5 publishers bridged from 3.1.1 often omit them;
//! - anything else is a plain payload, wrapped in a new event ([`Wrapper`]).
//!
//! Sending: binary mode (MQTT 5 only) or structured mode, chosen by the outbound.

mod binary;
#[cfg(test)]
mod tests;
mod wrap;

use bytes::Bytes;
use switchyard_core::cloudevent::content::{self, Mode};
use switchyard_core::cloudevent::{CloudEvent, DecodeError, json};

use switchyard_core::rpc::Reply;

use crate::config::MqttMode;
use crate::error::EncodeError;

pub use wrap::Wrapper;

/// Content Type of a structured-mode message (the JSON event format).
pub use switchyard_core::cloudevent::content::STRUCTURED_JSON as STRUCTURED_CONTENT_TYPE;

/// The parts of a received MQTT message that carry the event. MQTT 3.1.1 messages have no
/// Content Type and no user properties.
#[derive(Debug, Clone, Copy)]
pub struct MqttMessage<'a> {
    pub topic: &'a str,
    pub payload: &'a Bytes,
    pub content_type: Option<&'a str>,
    pub user_properties: &'a [(String, String)],
}

/// An event laid out as an MQTT message, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub payload: Bytes,
    /// The Content Type property (MQTT 5 only; a 3.1.1 message cannot carry it).
    pub content_type: Option<String>,
    /// User properties (MQTT 5 binary mode).
    pub user_properties: Vec<(String, String)>,
    /// A request's Response Topic and Correlation Data (MQTT 5).
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
}

/// Turns a received message into a CloudEvent; see the module documentation for the rules.
/// An error means the message claims to be a CloudEvent but is not a valid one (or a wrapped
/// payload could not be given valid attributes): the inbound dead-letters it.
pub fn decode(message: MqttMessage<'_>, wrapper: &Wrapper) -> Result<CloudEvent, DecodeError> {
    if let Some(content_type) = message.content_type
        && content::detect_mode(Some(content_type)) != Mode::Binary
    {
        return decode_structured(content_type, message.payload);
    }
    if message
        .user_properties
        .iter()
        .any(|(name, _)| name == "specversion")
    {
        return binary::decode(
            message.content_type,
            message.user_properties,
            message.payload,
        );
    }
    if message.content_type.is_none() && looks_structured(message.payload) {
        return json::decode_event(message.payload);
    }
    wrapper.wrap(message.topic, message.content_type, message.payload)
}

/// Turns a reply into what the caller gets: a CloudEvent (by the receiving rules above), or
/// any other payload with its content type; the error says why it cannot be a reply.
pub fn decode_reply(message: MqttMessage<'_>) -> Result<Reply, String> {
    let structured = message
        .content_type
        .is_some_and(|ct| content::detect_mode(Some(ct)) != Mode::Binary);
    let event = if structured {
        decode_structured(message.content_type.unwrap_or_default(), message.payload)
    } else if message
        .user_properties
        .iter()
        .any(|(n, _)| n == "specversion")
    {
        binary::decode(
            message.content_type,
            message.user_properties,
            message.payload,
        )
    } else if message.content_type.is_none() && looks_structured(message.payload) {
        json::decode_event(message.payload)
    } else {
        return Ok(Reply::Body {
            content_type: message.content_type.map(str::to_owned),
            body: message.payload.clone(),
        });
    };
    event
        .map(Reply::Event)
        .map_err(|e| format!("the reply is not a valid CloudEvent: {e}"))
}

/// Lays `event` out as an MQTT message in `mode`.
pub fn encode(event: &CloudEvent, mode: MqttMode) -> Result<Encoded, EncodeError> {
    match mode {
        MqttMode::Binary => binary::encode(event),
        MqttMode::Structured => Ok(Encoded {
            payload: Bytes::from(json::to_vec(event)),
            content_type: Some(STRUCTURED_CONTENT_TYPE.to_owned()),
            user_properties: Vec::new(),
            response_topic: None,
            correlation_data: None,
        }),
    }
}

impl Encoded {
    /// An upper bound of the PUBLISH packet's size on the wire, to refuse an event the broker
    /// would refuse (or rumqttc would fail the whole connection over) before sending it.
    pub fn packet_size(&self, topic: &str) -> usize {
        // Fixed header (at most 5), topic (2 + length), packet id (2), property length (4).
        let mut size = 5 + 2 + topic.len() + 2 + 4 + self.payload.len();
        if let Some(content_type) = &self.content_type {
            size += 1 + 2 + content_type.len();
        }
        for (name, value) in &self.user_properties {
            size += 1 + 2 + name.len() + 2 + value.len();
        }
        size += self.response_topic.as_ref().map_or(0, |t| 1 + 2 + t.len());
        size += self
            .correlation_data
            .as_ref()
            .map_or(0, |c| 1 + 2 + c.len());
        size
    }
}

fn decode_structured(content_type: &str, payload: &Bytes) -> Result<CloudEvent, DecodeError> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if content::detect_mode(Some(essence)) == Mode::Batch {
        return Err(DecodeError::new(
            "batched mode is not defined by the CloudEvents MQTT binding; send one event per message",
        ));
    }
    if !content::is_json_format(essence) {
        return Err(DecodeError::new(format!(
            "event format `{essence}` is not supported; use {STRUCTURED_CONTENT_TYPE}"
        )));
    }
    json::decode_event(payload)
}

/// Whether a payload without Content Type is meant as a structured CloudEvent: a JSON object
/// with a `specversion` member. Such a payload that then fails to decode is reported as a bad
/// CloudEvent rather than wrapped, so a sender's mistake is not hidden inside another event.
fn looks_structured(payload: &Bytes) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        specversion: Option<serde::de::IgnoredAny>,
    }
    let starts_as_object = payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    starts_as_object
        && serde_json::from_slice::<Probe>(payload).is_ok_and(|probe| probe.specversion.is_some())
}
