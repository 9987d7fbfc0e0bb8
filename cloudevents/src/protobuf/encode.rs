//! Events to protobuf messages. Cannot fail: a valid event always has a protobuf form.

use prost::Message as _;

use super::is_protobuf_data;
use super::pb::cloud_event::cloud_event_attribute_value::Attr;
use super::pb::cloud_event::{CloudEventAttributeValue, Data as PbData};
use super::pb::{CloudEvent as PbEvent, CloudEventBatch};
use crate::content::DEFAULT_JSON_CONTENT_TYPE;
use crate::model::{CloudEvent, Data, ExtensionValue, SPEC_VERSION};

/// Encodes one event in the protobuf event format.
pub fn encode_event(event: &CloudEvent) -> Vec<u8> {
    to_proto(event).encode_to_vec()
}

/// Encodes events in the protobuf batch format.
pub fn encode_batch(events: &[CloudEvent]) -> Vec<u8> {
    CloudEventBatch {
        events: events.iter().map(to_proto).collect(),
    }
    .encode_to_vec()
}

/// The generated message of an event.
pub fn to_proto(event: &CloudEvent) -> PbEvent {
    let mut message = PbEvent {
        id: event.id.clone(),
        source: event.source.clone(),
        spec_version: SPEC_VERSION.to_owned(),
        r#type: event.ty.clone(),
        ..PbEvent::default()
    };
    let attributes = &mut message.attributes;
    let mut put = |name: &str, attr: Attr| {
        attributes.insert(
            name.to_owned(),
            CloudEventAttributeValue { attr: Some(attr) },
        );
    };
    let datacontenttype = match (&event.datacontenttype, &event.data) {
        (None, Some(Data::Json(_))) => Some(DEFAULT_JSON_CONTENT_TYPE),
        (label, _) => label.as_deref(),
    };
    if let Some(label) = datacontenttype {
        put("datacontenttype", Attr::CeString(label.to_owned()));
    }
    if let Some(schema) = &event.dataschema {
        put("dataschema", Attr::CeUri(schema.clone()));
    }
    if let Some(subject) = &event.subject {
        put("subject", Attr::CeString(subject.clone()));
    }
    if let Some(time) = &event.time {
        put("time", timestamp(time));
    }
    for (name, value) in &event.extensions {
        put(name, extension(value));
    }
    message.data = event.data.as_ref().map(|data| match data {
        Data::Json(json) => PbData::TextData(String::from_utf8_lossy(json).into_owned()),
        Data::Text(text) => PbData::TextData(text.clone()),
        Data::Binary(bytes) if is_protobuf_data(datacontenttype) => {
            PbData::ProtoData(prost_types::Any {
                type_url: event.dataschema.clone().unwrap_or_default(),
                value: bytes.to_vec(),
            })
        }
        Data::Binary(bytes) => PbData::BinaryData(bytes.clone()),
    });
    message
}

/// `time` as `ce_timestamp`; a time that validated always parses, but should one not, it
/// travels as the string it is rather than being lost.
fn timestamp(time: &str) -> Attr {
    match chrono::DateTime::parse_from_rfc3339(time) {
        Ok(parsed) => Attr::CeTimestamp(prost_types::Timestamp {
            seconds: parsed.timestamp(),
            nanos: i32::try_from(parsed.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        Err(_) => Attr::CeString(time.to_owned()),
    }
}

fn extension(value: &ExtensionValue) -> Attr {
    match value {
        ExtensionValue::String(s) => Attr::CeString(s.clone()),
        ExtensionValue::Integer(i) => Attr::CeInteger(*i),
        ExtensionValue::Boolean(b) => Attr::CeBoolean(*b),
        ExtensionValue::Binary(b) => Attr::CeBytes(b.clone()),
        ExtensionValue::Uri(s) => Attr::CeUri(s.clone()),
        ExtensionValue::UriRef(s) => Attr::CeUriRef(s.clone()),
        ExtensionValue::Timestamp(t) => timestamp(t),
    }
}
