//! HTTP binary mode: `ce-` headers <-> attributes, `Content-Type` <-> `datacontenttype`, body
//! <-> data.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::super::attributes::AttributeSet;
use super::super::content::{body_of, content_type_of, data_from_body};
use super::super::model::{CloudEvent, ExtensionValue, SPEC_VERSION};
use super::super::validate::{DecodeError, validate_event};
use super::{PercentDecoding, decode_header_value_with, encode_header_value};

/// Decodes a binary-mode message.
///
/// Extensions become `ExtensionValue::String`, since headers carry no types. The body becomes
/// `Data::Json` for a JSON `Content-Type` (and must then be valid JSON), `Data::Text` for a
/// [textual](crate::content::is_text_media_type) one when it is valid UTF-8, and `Data::Binary`
/// otherwise, including when there is no `Content-Type`. An empty body is no data.
pub fn decode_binary(headers: &HeaderMap, body: Bytes) -> Result<CloudEvent, DecodeError> {
    decode_binary_with(headers, body, PercentDecoding::Strict)
}

/// [`decode_binary`] with a choice of how a stray `%` in a header value is treated.
pub fn decode_binary_with(
    headers: &HeaderMap,
    body: Bytes,
    percent: PercentDecoding,
) -> Result<CloudEvent, DecodeError> {
    let mut attributes = AttributeSet::default();
    for name in headers.keys() {
        // `HeaderMap` lower-cases names, which makes the prefix match case-insensitive.
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let value = single_value(headers, name, attribute)?;
        let value = decode_header_value_with(value.as_bytes(), percent)
            .map_err(|e| DecodeError::attribute(attribute, e.reason))?;
        if attribute == "datacontenttype" {
            let reason = "must be sent as Content-Type, not as a ce- header";
            return Err(DecodeError::attribute(attribute, reason));
        }
        attributes.set(attribute, ExtensionValue::String(value))?;
    }
    let datacontenttype = match headers.contains_key(CONTENT_TYPE) {
        false => None,
        true => Some(content_type(headers)?),
    };
    let data = data_from_body(datacontenttype.as_deref(), body)?;
    let event = attributes.into_event(datacontenttype, data)?;
    validate_event(&event)?;
    Ok(event)
}

/// The one value of header `name`; a repeated header would be a repeated attribute.
fn single_value<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    attribute: &str,
) -> Result<&'h HeaderValue, DecodeError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(DecodeError::duplicate(attribute)),
    }
}

/// `Content-Type` is an ordinary HTTP header, not percent-encoded, taken as it is.
fn content_type(headers: &HeaderMap) -> Result<String, DecodeError> {
    let value = single_value(headers, &CONTENT_TYPE, "datacontenttype")?;
    std::str::from_utf8(value.as_bytes())
        .map(str::to_owned)
        .map_err(|_| DecodeError::attribute("datacontenttype", "Content-Type is not UTF-8"))
}

/// Encodes `event` in binary mode: sets its `ce-` headers and `Content-Type` in `headers`
/// (first removing any `ce-` headers and `Content-Type` already there, which would otherwise
/// describe a different event) and returns the body.
///
/// Without a `datacontenttype`, `Data::Json` is labelled `application/json` and `Data::Text`
/// `text/plain; charset=utf-8`; `Data::Binary` gets no `Content-Type`, as the spec forbids
/// inventing one. Values that cannot be header values (only possible for events that never
/// passed validation) are left out rather than failing.
pub fn encode_binary(event: &CloudEvent, headers: &mut HeaderMap) -> Bytes {
    remove_event_headers(headers);
    let core = [
        (
            HeaderName::from_static("ce-specversion"),
            Some(SPEC_VERSION),
        ),
        (HeaderName::from_static("ce-id"), Some(event.id.as_str())),
        (
            HeaderName::from_static("ce-source"),
            Some(event.source.as_str()),
        ),
        (HeaderName::from_static("ce-type"), Some(event.ty.as_str())),
        (
            HeaderName::from_static("ce-dataschema"),
            event.dataschema.as_deref(),
        ),
        (
            HeaderName::from_static("ce-subject"),
            event.subject.as_deref(),
        ),
        (HeaderName::from_static("ce-time"), event.time.as_deref()),
    ];
    for (name, value) in core {
        if let Some(value) = value {
            set_attribute(headers, name, value);
        }
    }
    for (name, value) in &event.extensions {
        if let Ok(name) = HeaderName::try_from(format!("ce-{name}")) {
            set_attribute(headers, name, &value.to_canonical_string());
        }
    }
    if let Some(value) = content_type_of(event).and_then(|ct| HeaderValue::from_str(ct).ok()) {
        headers.insert(CONTENT_TYPE, value);
    }
    body_of(event)
}

fn remove_event_headers(headers: &mut HeaderMap) {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("ce-"))
        .cloned()
        .collect();
    for name in stale {
        headers.remove(name);
    }
    headers.remove(CONTENT_TYPE);
}

fn set_attribute(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Percent-encoding yields visible ASCII only, so this conversion always succeeds.
    if let Ok(value) = HeaderValue::try_from(encode_header_value(value)) {
        headers.insert(name, value);
    }
}
