//! Encoding in both modes, and the round trip of generated events through binary and
//! structured mode.

use bytes::Bytes;
use proptest::prelude::*;
use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue, json};

use super::{props, wrapper};
use crate::config::MqttMode;
use crate::convert::{EncodeError, MqttMessage, STRUCTURED_CONTENT_TYPE, decode, encode};

fn sample() -> CloudEvent {
    let mut event = CloudEvent::new("1", "/s", "t");
    event.subject = Some("sub".into());
    event.time = Some("2024-05-01T10:00:00Z".into());
    event
        .extensions
        .insert("count".into(), ExtensionValue::Integer(3));
    event.data = Some(Data::Json(Bytes::from_static(b"[1,2]")));
    event
}

#[test]
fn binary_encoding_puts_attributes_in_user_properties() {
    let encoded = encode(&sample(), MqttMode::Binary).expect("encodable");
    assert_eq!(
        encoded.user_properties,
        props(&[
            ("specversion", "1.0"),
            ("id", "1"),
            ("source", "/s"),
            ("type", "t"),
            ("subject", "sub"),
            ("time", "2024-05-01T10:00:00Z"),
            ("count", "3")
        ])
    );
    assert_eq!(encoded.content_type.as_deref(), Some("application/json"));
    assert_eq!(encoded.payload, Bytes::from_static(b"[1,2]"));
    let mut text = sample();
    text.data = Some(Data::Text("hi".into()));
    let encoded = encode(&text, MqttMode::Binary).expect("text");
    assert_eq!(
        encoded.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let mut bytes = sample();
    bytes.data = Some(Data::Binary(Bytes::from_static(b"\xff")));
    assert_eq!(
        encode(&bytes, MqttMode::Binary)
            .expect("bytes")
            .content_type,
        None
    );
}

#[test]
fn structured_encoding_is_the_json_format() {
    let encoded = encode(&sample(), MqttMode::Structured).expect("encodable");
    assert_eq!(
        encoded.content_type.as_deref(),
        Some(STRUCTURED_CONTENT_TYPE)
    );
    assert!(encoded.user_properties.is_empty());
    assert_eq!(
        json::decode_event(&encoded.payload).expect("JSON format"),
        sample()
    );
}

#[test]
fn values_too_long_for_mqtt_cannot_be_encoded() {
    let mut event = sample();
    event.subject = Some("x".repeat(70_000));
    let err = encode(&event, MqttMode::Binary).expect_err("too long");
    assert!(
        matches!(err, EncodeError::PropertyTooLong { ref attribute, .. } if attribute == "subject")
    );
    assert!(
        encode(&event, MqttMode::Structured).is_ok(),
        "structured mode has no such limit"
    );
}

#[test]
fn packet_size_bounds_the_wire_size() {
    let encoded = encode(&sample(), MqttMode::Binary).expect("encodable");
    let properties: usize = encoded
        .user_properties
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    let floor = encoded.payload.len() + "a/b".len() + properties;
    assert!(encoded.packet_size("a/b") > floor);
}

/// Events whose binary-mode encoding must decode to themselves: string extensions (binary mode
/// carries no types) and non-empty data with a content type that says what it is.
fn events() -> impl Strategy<Value = CloudEvent> {
    let reserved = [
        "id",
        "source",
        "type",
        "time",
        "subject",
        "dataschema",
        "datacontenttype",
        "specversion",
        "data",
    ];
    let extensions = prop::collection::btree_map(
        "[a-z][a-z0-9]{0,8}".prop_filter("reserved", move |n| !reserved.contains(&n.as_str())),
        "[ -~]{0,16}".prop_map(ExtensionValue::String),
        0..4,
    );
    let data = prop_oneof![
        Just((None, None)),
        Just((Some("application/xml".to_owned()), None)),
        any::<i32>().prop_map(|n| (
            Some("application/json".to_owned()),
            Some(Data::Json(Bytes::from(format!("{{\"n\":{n}}}"))))
        )),
        "[ -~]{1,32}".prop_map(|s| (Some("text/plain".to_owned()), Some(Data::Text(s)))),
        prop::collection::vec(any::<u8>(), 1..32).prop_map(|b| (
            Some("application/octet-stream".to_owned()),
            Some(Data::Binary(Bytes::from(b)))
        )),
    ];
    let times = prop::option::of(prop_oneof![
        Just("2024-01-02T03:04:05Z"),
        Just("1985-04-12T23:20:50.52+01:00")
    ]);
    (
        "[A-Za-z0-9._-]{1,16}",
        prop_oneof!["/[a-z0-9/]{0,16}", "urn:[a-z]{1,8}:[a-z0-9]{1,8}"],
        "[a-z][a-z.]{0,16}",
        prop::option::of("[ -~]{1,16}"),
        times,
        prop::option::of("https://example\\.com/[a-z]{1,8}"),
        extensions,
        data,
    )
        .prop_map(
            |(id, source, ty, subject, time, dataschema, extensions, (datacontenttype, data))| {
                let mut event = CloudEvent::new(id, source, ty);
                event.subject = subject;
                event.time = time.map(str::to_owned);
                event.dataschema = dataschema;
                event.extensions = extensions;
                event.datacontenttype = datacontenttype;
                event.data = data;
                event
            },
        )
}

fn roundtrip(event: &CloudEvent, mode: MqttMode) -> CloudEvent {
    let encoded = encode(event, mode).expect("encodable");
    let message = MqttMessage {
        topic: "t",
        payload: &encoded.payload,
        content_type: encoded.content_type.as_deref(),
        user_properties: &encoded.user_properties,
    };
    decode(message, &wrapper()).expect("decodable")
}

proptest! {
    #[test]
    fn binary_and_structured_modes_round_trip(event in events()) {
        event.validate().expect("the generator makes valid events");
        let from_binary = roundtrip(&event, MqttMode::Binary);
        prop_assert_eq!(&from_binary, &event);
        prop_assert_eq!(&roundtrip(&from_binary, MqttMode::Structured), &event);
        prop_assert_eq!(&roundtrip(&roundtrip(&event, MqttMode::Structured), MqttMode::Binary), &event);
    }
}
