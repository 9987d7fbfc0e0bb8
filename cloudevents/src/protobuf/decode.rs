//! Protobuf messages to events: every attribute checked as for any other format.

use bytes::Bytes;
use prost::Message as _;

use super::PROTOBUF_DATA;
use super::pb::cloud_event::cloud_event_attribute_value::Attr;
use super::pb::cloud_event::{CloudEventAttributeValue, Data as PbData};
use super::pb::{CloudEvent as PbEvent, CloudEventBatch};
use crate::attributes::AttributeSet;
use crate::json::{decode_json_data, is_json_media_type};
use crate::model::{CloudEvent, Data, ExtensionValue};
use crate::validate::{DecodeError, validate_event};

/// Decodes one event in the protobuf event format.
pub fn decode_event(input: &[u8]) -> Result<CloudEvent, DecodeError> {
    let message = PbEvent::decode(input)
        .map_err(|e| DecodeError::new(format!("not a protobuf CloudEvent: {e}")))?;
    from_proto(message)
}

/// Decodes a protobuf batch: all events or none. An error names the index of the bad event.
pub fn decode_batch(input: &[u8]) -> Result<Vec<CloudEvent>, DecodeError> {
    let batch = CloudEventBatch::decode(input)
        .map_err(|e| DecodeError::new(format!("not a protobuf CloudEventBatch: {e}")))?;
    batch
        .events
        .into_iter()
        .enumerate()
        .map(|(index, event)| from_proto(event).map_err(|e| e.in_event(index)))
        .collect()
}

/// An event from its generated message, validated.
pub fn from_proto(message: PbEvent) -> Result<CloudEvent, DecodeError> {
    let mut attributes = AttributeSet::default();
    let string = ExtensionValue::String;
    attributes.set("specversion", string(message.spec_version))?;
    attributes.set("id", string(message.id))?;
    attributes.set("source", string(message.source))?;
    attributes.set("type", string(message.r#type))?;
    for (name, value) in message.attributes {
        let value = attribute_value(&name, value)?;
        attributes.set(&name, value)?;
    }
    let datacontenttype = attributes.take_datacontenttype();
    let (datacontenttype, data, schema) = data(datacontenttype, message.data)?;
    let mut event = attributes.into_event(datacontenttype, data)?;
    if event.dataschema.is_none() {
        event.dataschema = schema;
    }
    validate_event(&event)?;
    Ok(event)
}

/// One attribute in the model's types: the ones JSON has no type for become their canonical
/// strings.
fn attribute_value(
    name: &str,
    value: CloudEventAttributeValue,
) -> Result<ExtensionValue, DecodeError> {
    let Some(attr) = value.attr else {
        return Err(DecodeError::attribute(name, "the attribute has no value"));
    };
    Ok(match attr {
        Attr::CeBoolean(b) => ExtensionValue::Boolean(b),
        Attr::CeInteger(i) => ExtensionValue::Integer(i),
        Attr::CeString(s) => ExtensionValue::String(s),
        Attr::CeUri(s) => ExtensionValue::Uri(s),
        Attr::CeUriRef(s) => ExtensionValue::UriRef(s),
        Attr::CeBytes(b) => ExtensionValue::Binary(b),
        Attr::CeTimestamp(t) => {
            let time = chrono::DateTime::from_timestamp(
                t.seconds,
                u32::try_from(t.nanos).unwrap_or(u32::MAX),
            )
            .ok_or_else(|| DecodeError::attribute(name, "the timestamp is out of range"))?;
            ExtensionValue::Timestamp(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
    })
}

type DataParts = (Option<String>, Option<Data>, Option<String>);

/// The data, its `datacontenttype`, and for `proto_data` the type URL as a `dataschema`.
fn data(datacontenttype: Option<String>, data: Option<PbData>) -> Result<DataParts, DecodeError> {
    let content_type = datacontenttype.as_deref();
    let decoded = match data {
        None => None,
        Some(PbData::BinaryData(bytes)) => Some(Data::Binary(bytes)),
        Some(PbData::TextData(text))
            if content_type.is_some() && is_json_media_type(content_type) =>
        {
            Some(Data::Json(decode_json_data(&Bytes::from(text))?))
        }
        Some(PbData::TextData(text)) => Some(Data::Text(text)),
        Some(PbData::ProtoData(any)) => {
            let schema = (!any.type_url.is_empty()).then(|| type_url_as_uri(any.type_url));
            let label = datacontenttype.or_else(|| Some(PROTOBUF_DATA.to_owned()));
            return Ok((label, Some(Data::Binary(Bytes::from(any.value))), schema));
        }
    };
    Ok((datacontenttype, decoded, None))
}

/// An `Any` type URL as an absolute URI: `Any` implies `https` when the URL has no scheme.
fn type_url_as_uri(type_url: String) -> String {
    if type_url.contains("://") {
        type_url
    } else {
        format!("https://{type_url}")
    }
}
