//! The CloudEvents NATS binding (shared/cloudevents.md 1.9):
//!
//! - structured mode: a `Content-Type` header starting with `application/cloudevents` (JSON
//!   format only; batches are not defined for NATS);
//! - binary mode (NATS 2.2 headers): `ce-<name>` headers, `ce-datacontenttype` included (unlike
//!   HTTP, where `Content-Type` carries it; a `Content-Type` header is accepted as a fallback),
//!   data as the payload;
//! - a payload without headers that is a JSON object with `specversion` is structured (the
//!   1.0.2 binding had no headers);
//! - anything else is wrapped in a new event (`wrap.rs`), as for MQTT.
//!
//! Header values travel as they are (NATS headers are not percent-encoded), so a value that
//! holds a line break cannot be sent in binary mode: such an event is refused, never garbled.

pub mod subject;
mod wrap;

use std::str::FromStr;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue};
use bytes::Bytes;

use switchyard_core::cloudevent::content::{
    self, Mode, STRUCTURED_JSON, body_of, content_type_of, data_from_body,
};
use switchyard_core::cloudevent::{
    AttributeSet, CloudEvent, DecodeError, ExtensionValue, SPEC_VERSION, json,
};

use crate::config::NatsMode;
use crate::error::EncodeError;
pub use wrap::Wrapper;

/// The parts of a received NATS message that carry the event.
#[derive(Debug, Clone, Copy)]
pub struct NatsMessage<'a> {
    pub subject: &'a str,
    pub headers: Option<&'a HeaderMap>,
    pub payload: &'a Bytes,
}

/// An event laid out as a NATS message.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub headers: HeaderMap,
    pub payload: Bytes,
}

const CONTENT_TYPE: &str = "Content-Type";
const PREFIX: &str = "ce-";

/// Turns a received message into a CloudEvent; an error means it claims to be one but is not
/// a valid one (or a wrapped payload could not be given valid attributes).
pub fn decode(message: NatsMessage<'_>, wrapper: &Wrapper) -> Result<CloudEvent, DecodeError> {
    let header = |name: &str| {
        message
            .headers
            .and_then(|h| h.get(name))
            .map(HeaderValue::as_str)
    };
    let content_type = header(CONTENT_TYPE);
    match content_type.map(|ct| content::detect_mode(Some(ct))) {
        Some(Mode::Batch) => Err(DecodeError::new(
            "batched mode is not defined for NATS; send one event per message",
        )),
        Some(Mode::Structured) => decode_structured(content_type.unwrap_or_default(), message),
        _ if header("ce-specversion").is_some() => decode_binary(message, content_type),
        None if message.headers.is_none_or(HeaderMap::is_empty)
            && looks_structured(message.payload) =>
        {
            json::decode_event(message.payload)
        }
        _ => wrapper.wrap(message, content_type),
    }
}

fn decode_structured(
    content_type: &str,
    message: NatsMessage<'_>,
) -> Result<CloudEvent, DecodeError> {
    if !content::is_json_format(content_type) {
        return Err(DecodeError::new(format!(
            "event format `{content_type}` is not supported; use {STRUCTURED_JSON}"
        )));
    }
    json::decode_event(message.payload)
}

fn decode_binary(
    message: NatsMessage<'_>,
    content_type: Option<&str>,
) -> Result<CloudEvent, DecodeError> {
    let mut attributes = AttributeSet::default();
    for (name, values) in message.headers.into_iter().flat_map(HeaderMap::iter) {
        let name: &str = name.as_ref();
        let Some(attribute) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if values.len() > 1 {
            return Err(DecodeError::attribute(attribute, "the header is repeated"));
        }
        let value = values.first().map(HeaderValue::as_str).unwrap_or_default();
        attributes.set(attribute, ExtensionValue::String(value.to_owned()))?;
    }
    let datacontenttype = attributes
        .take_datacontenttype()
        .or_else(|| content_type.map(str::to_owned));
    let data = data_from_body(datacontenttype.as_deref(), message.payload.clone())?;
    let event = attributes.into_event(datacontenttype, data)?;
    event.validate()?;
    Ok(event)
}

/// A JSON object with a `specversion` member: meant as a structured CloudEvent, so a broken
/// one is reported rather than wrapped.
fn looks_structured(payload: &Bytes) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        specversion: Option<serde::de::IgnoredAny>,
    }
    let object = payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    object && serde_json::from_slice::<Probe>(payload).is_ok_and(|p| p.specversion.is_some())
}

/// Lays `event` out as a NATS message in `mode`.
pub fn encode(event: &CloudEvent, mode: NatsMode) -> Result<Encoded, EncodeError> {
    let mut headers = HeaderMap::new();
    let payload = match mode {
        NatsMode::Structured => {
            headers.insert(CONTENT_TYPE, STRUCTURED_JSON);
            Bytes::from(json::to_vec(event))
        }
        NatsMode::Binary => {
            binary_headers(event, &mut headers)?;
            body_of(event)
        }
    };
    Ok(Encoded { headers, payload })
}

fn binary_headers(event: &CloudEvent, headers: &mut HeaderMap) -> Result<(), EncodeError> {
    let mut put = |name: &str, value: &str| -> Result<(), EncodeError> {
        let header = HeaderName::from_str(&format!("{PREFIX}{name}"))
            .map_err(|_| EncodeError::Header(name.to_owned()))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| EncodeError::Header(name.to_owned()))?;
        headers.insert(header, value);
        Ok(())
    };
    put("specversion", SPEC_VERSION)?;
    put("id", &event.id)?;
    put("source", &event.source)?;
    put("type", &event.ty)?;
    let optional = [
        ("dataschema", event.dataschema.as_deref()),
        ("subject", event.subject.as_deref()),
        ("time", event.time.as_deref()),
        ("datacontenttype", content_type_of(event)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            put(name, value)?;
        }
    }
    for (name, value) in &event.extensions {
        put(name, &value.to_canonical_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
