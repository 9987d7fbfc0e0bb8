//! MQTT 5 binary mode: each attribute a user property named exactly like the attribute, with
//! its canonical string value; `datacontenttype` as the Content Type property; the data as the
//! payload.
//!
//! The CloudEvents 1.0.2 binding's example also lists `datacontenttype` as a user property,
//! contradicting its own text: we accept it on input (the Content Type property wins when both
//! are present) and never emit it.
//!
//! Every user property of a binary-mode message is read as an attribute, and one whose name
//! is not a valid attribute name (`Bad-Name`, `Subject`, `trace_id`) makes the message
//! undecodable. The binding maps attributes to user properties with no prefix, so nothing
//! tells a mistyped attribute from unrelated metadata: ignoring such a name would silently
//! lose whatever the sender meant by it. This matches the HTTP binding's `ce-` headers (400)
//! and the AMQP inbound, and sdk-java's MQTT reader, which also takes every user property as
//! an attribute. Senders with other metadata to carry use structured mode, where user
//! properties are not read.

use bytes::Bytes;
use switchyard_core::cloudevent::content::{body_of, content_type_of, data_from_body};
use switchyard_core::cloudevent::{
    AttributeSet, CloudEvent, DecodeError, ExtensionValue, SPEC_VERSION, validate_attribute_name,
};

use super::Encoded;
use crate::error::EncodeError;

/// Longest UTF-8 string an MQTT property can hold (a 2-byte length prefix).
const MAX_STRING_LEN: usize = u16::MAX as usize;

/// Decodes a binary-mode message. Extensions become strings, as properties carry no types.
pub fn decode(
    content_type: Option<&str>,
    user_properties: &[(String, String)],
    payload: &Bytes,
) -> Result<CloudEvent, DecodeError> {
    let mut attributes = AttributeSet::default();
    for (name, value) in user_properties {
        if let Err(invalid) = validate_attribute_name(name) {
            let reason = format!(
                "user property is not a valid CloudEvents attribute name ({}); in binary mode every user property is an attribute",
                invalid.reason
            );
            return Err(DecodeError::attribute(name, reason));
        }
        attributes.set(name, ExtensionValue::String(value.clone()))?;
    }
    let datacontenttype = content_type
        .map(str::to_owned)
        .or(attributes.take_datacontenttype());
    let data = data_from_body(datacontenttype.as_deref(), payload.clone())?;
    let event = attributes.into_event(datacontenttype, data)?;
    event.validate()?;
    Ok(event)
}

/// Encodes `event` in binary mode.
///
/// Without a `datacontenttype`, JSON data is labelled `application/json` and text data
/// `text/plain; charset=utf-8`; binary data gets no Content Type, as the spec forbids
/// inventing one.
pub fn encode(event: &CloudEvent) -> Result<Encoded, EncodeError> {
    let core = [
        ("specversion", Some(SPEC_VERSION)),
        ("id", Some(event.id.as_str())),
        ("source", Some(event.source.as_str())),
        ("type", Some(event.ty.as_str())),
        ("dataschema", event.dataschema.as_deref()),
        ("subject", event.subject.as_deref()),
        ("time", event.time.as_deref()),
    ];
    let mut user_properties = Vec::with_capacity(core.len() + event.extensions.len());
    for (name, value) in core {
        if let Some(value) = value {
            user_properties.push(property(name, value.to_owned())?);
        }
    }
    for (name, value) in &event.extensions {
        user_properties.push(property(name, value.to_canonical_string())?);
    }
    let content_type = content_type_of(event).map(str::to_owned);
    if let Some(content_type) = &content_type {
        check_length("datacontenttype", content_type)?;
    }
    let payload = body_of(event);
    Ok(Encoded {
        payload,
        content_type,
        user_properties,
        response_topic: None,
        correlation_data: None,
    })
}

fn property(name: &str, value: String) -> Result<(String, String), EncodeError> {
    check_length(name, &value)?;
    Ok((name.to_owned(), value))
}

/// Attribute values are valid CloudEvents strings (no control characters, so no U+0000 that
/// MQTT forbids); only their length can be out of MQTT's reach.
fn check_length(name: &str, value: &str) -> Result<(), EncodeError> {
    if value.len() > MAX_STRING_LEN {
        return Err(EncodeError::PropertyTooLong {
            attribute: name.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}
