//! AMQP 0-9-1 messages ⇄ CloudEvents.
//!
//! No CloudEvents binding exists for AMQP 0-9-1; we follow the de-facto mapping derived from
//! the AMQP 1.0 binding (shared/cloudevents.md 1.5), as sdk-csharp's RabbitMQ helper and
//! Spring AMQP do:
//!
//! - structured mode: `content_type` starting with `application/cloudevents`, the body is the
//!   event in the JSON format;
//! - binary mode: attributes in the `headers` table as `cloudEvents_<name>` (or
//!   `cloudEvents:<name>`, accepted on input), `content_type` is `datacontenttype`, the body is
//!   the data;
//! - anything else is wrapped in a new event.
//!
//! On output, binary mode writes string attributes as long strings and integer and boolean
//! extensions as native AMQP long ints and booleans, which keeps their CloudEvents type across
//! a hop. `time` stays an RFC 3339 string: 0-9-1 timestamps are whole seconds.

mod headers;
#[cfg(test)]
mod tests;
mod wrap;

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use switchyard_core::rpc::Reply;

use switchyard_core::cloudevent::content::{self, Mode, body_of, content_type_of, data_from_body};
use switchyard_core::cloudevent::{
    AttributeSet, CloudEvent, DecodeError, ExtensionValue, SPEC_VERSION, json,
};

use crate::config::{AmqpMode, HeaderPrefix};
use crate::error::{EncodeError, short_string};
pub(crate) use wrap::{WrapContext, WrapTemplate, Wrapper};

/// `content_type` of a structured-mode message.
pub(crate) use switchyard_core::cloudevent::content::STRUCTURED_JSON as STRUCTURED_CONTENT_TYPE;

/// How an incoming message carries its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Structured,
    Binary,
    Plain,
}

/// A message as it arrived: what decoding needs from a lapin `Delivery`.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    pub(crate) properties: &'a BasicProperties,
    pub(crate) body: Bytes,
}

/// An encoded event, ready for `basic_publish`.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) properties: BasicProperties,
    pub(crate) body: Bytes,
}

/// How events are encoded (from the outbound's config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodeOptions {
    pub(crate) mode: AmqpMode,
    pub(crate) prefix: HeaderPrefix,
    pub(crate) persistent: bool,
}

/// Turns a message into a validated CloudEvent: decodes structured and binary messages and
/// wraps any other body. An error means the message claims to be a CloudEvent (or its body
/// is not what its content type says) but is invalid: it goes to the dead letter.
pub(crate) fn decode(
    message: &Incoming<'_>,
    wrapper: &Wrapper,
    context: &WrapContext<'_>,
) -> Result<CloudEvent, DecodeError> {
    let content_type = message
        .properties
        .content_type()
        .as_ref()
        .map(|s| s.as_str());
    match layout(message.properties) {
        Layout::Structured => decode_structured(content_type.unwrap_or_default(), &message.body),
        Layout::Binary => decode_binary(message.properties, message.body.clone()),
        Layout::Plain => wrapper.wrap(message, context),
    }
}

/// Turns a reply into what the caller gets: a CloudEvent (structured or binary), or any other
/// body with its content type; the error says why it cannot be a reply.
pub(crate) fn decode_reply(message: &Incoming<'_>) -> Result<Reply, String> {
    let content_type = message
        .properties
        .content_type()
        .as_ref()
        .map(|s| s.as_str());
    let event = match layout(message.properties) {
        Layout::Structured => decode_structured(content_type.unwrap_or_default(), &message.body),
        Layout::Binary => decode_binary(message.properties, message.body.clone()),
        Layout::Plain => {
            return Ok(Reply::Body {
                content_type: content_type.map(str::to_owned),
                body: message.body.clone(),
            });
        }
    };
    event
        .map(Reply::Event)
        .map_err(|e| format!("the reply is not a valid CloudEvent: {e}"))
}

fn layout(properties: &BasicProperties) -> Layout {
    let structured = properties
        .content_type()
        .as_ref()
        .is_some_and(|ct| content::detect_mode(Some(ct.as_str())) != Mode::Binary);
    if structured {
        return Layout::Structured;
    }
    // Any prefixed header means the sender meant binary mode: a missing attribute is then
    // reported, rather than the message being silently wrapped as a plain body.
    let binary = properties.headers().as_ref().is_some_and(|headers| {
        headers
            .inner()
            .keys()
            .any(|name| headers::attribute_name(name.as_str()).is_some())
    });
    if binary {
        Layout::Binary
    } else {
        Layout::Plain
    }
}

fn decode_structured(content_type: &str, body: &Bytes) -> Result<CloudEvent, DecodeError> {
    if content::detect_mode(Some(content_type)) == Mode::Batch {
        return Err(DecodeError::new(
            "batched mode is not defined for AMQP; send one event per message",
        ));
    }
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !content::is_json_format(essence) {
        return Err(DecodeError::new(format!(
            "event format `{essence}` is not supported; use {STRUCTURED_CONTENT_TYPE}"
        )));
    }
    json::decode_event(body)
}

fn decode_binary(properties: &BasicProperties, body: Bytes) -> Result<CloudEvent, DecodeError> {
    let mut attributes = AttributeSet::default();
    if let Some(table) = properties.headers() {
        for (name, value) in table {
            if let Some(attribute) = headers::attribute_name(name.as_str()) {
                // The same attribute under both prefixes is a duplicate, refused by `set`.
                attributes.set(attribute, headers::attribute_value(attribute, value)?)?;
            }
        }
    }
    // The property is the binding's place for it; a header is accepted as a fallback.
    let datacontenttype = match properties.content_type() {
        Some(content_type) => Some(content_type.to_string()),
        None => attributes.take_datacontenttype(),
    };
    let data = data_from_body(datacontenttype.as_deref(), body)?;
    let event = attributes.into_event(datacontenttype, data)?;
    event.validate()?;
    Ok(event)
}

/// Encodes `event` as an AMQP message. Fails only for values AMQP cannot carry (a
/// `datacontenttype` over 255 bytes).
pub(crate) fn encode(event: &CloudEvent, options: EncodeOptions) -> Result<Outgoing, EncodeError> {
    let mut properties = BasicProperties::default();
    let body = match options.mode {
        AmqpMode::Binary => {
            properties = properties.with_headers(binary_headers(event, options.prefix)?);
            if let Some(content_type) = content_type_of(event) {
                properties =
                    properties.with_content_type(short_string("datacontenttype", content_type)?);
            }
            body_of(event)
        }
        AmqpMode::Structured => {
            properties = properties.with_content_type(STRUCTURED_CONTENT_TYPE.into());
            Bytes::from(json::to_vec(event))
        }
    };
    // A convenience for AMQP tooling only: the id also travels in the headers or body, so an
    // id too long for `message_id` is simply not copied there.
    if let Ok(id) = short_string("id", &event.id) {
        properties = properties.with_message_id(id);
    }
    if let Some(seconds) = event.time.as_deref().and_then(unix_seconds) {
        properties = properties.with_timestamp(seconds);
    }
    if options.persistent {
        properties = properties.with_delivery_mode(2);
    }
    Ok(Outgoing { properties, body })
}

fn binary_headers(event: &CloudEvent, prefix: HeaderPrefix) -> Result<FieldTable, EncodeError> {
    let mut table = FieldTable::default();
    let mut put = |name: &str, value: AMQPValue| -> Result<(), EncodeError> {
        let key = short_string("header name", &format!("{}{name}", prefix.as_str()))?;
        table.insert(key, value);
        Ok(())
    };
    let text = |value: &str| AMQPValue::LongString(LongString::from(value));
    put("specversion", text(SPEC_VERSION))?;
    put("id", text(&event.id))?;
    put("source", text(&event.source))?;
    put("type", text(&event.ty))?;
    for (name, value) in [
        ("dataschema", &event.dataschema),
        ("subject", &event.subject),
        ("time", &event.time),
    ] {
        if let Some(value) = value {
            put(name, text(value))?;
        }
    }
    for (name, value) in &event.extensions {
        let value = match value {
            ExtensionValue::String(s) => text(s),
            ExtensionValue::Integer(i) => AMQPValue::LongInt(*i),
            ExtensionValue::Boolean(b) => AMQPValue::Boolean(*b),
            other => text(&other.to_canonical_string()),
        };
        put(name, value)?;
    }
    Ok(table)
}

/// Whole seconds since the epoch of an RFC 3339 time; none before 1970 (AMQP timestamps are
/// unsigned).
fn unix_seconds(time: &str) -> Option<u64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    u64::try_from(parsed.timestamp()).ok()
}
