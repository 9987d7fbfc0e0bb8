//! The protobuf format: the spec's type mapping row by row, the data rules, refusals, and
//! round trips against the model (property tests).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;

use super::pb::cloud_event::cloud_event_attribute_value::Attr;
use super::pb::cloud_event::{CloudEventAttributeValue, Data as PbData};
use super::pb::{CloudEvent as PbEvent, CloudEventBatch};
use super::{decode_batch, decode_event, encode_batch, encode_event, from_proto, to_proto};
use crate::tests::event;
use crate::{CloudEvent, Data, ExtensionValue, json};

fn minimal() -> PbEvent {
    PbEvent {
        id: "1".into(),
        source: "/s".into(),
        spec_version: "1.0".into(),
        r#type: "t".into(),
        ..PbEvent::default()
    }
}

fn with_attribute(name: &str, attr: Attr) -> PbEvent {
    let mut message = minimal();
    let value = CloudEventAttributeValue { attr: Some(attr) };
    message.attributes.insert(name.into(), value);
    message
}

fn reject(message: PbEvent) -> String {
    match from_proto(message) {
        Ok(event) => panic!("accepted {event:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_attribute_type_keeps_its_type() {
    let time = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 120_000_000,
    };
    let rows = [
        (Attr::CeBoolean(true), ExtensionValue::Boolean(true)),
        (Attr::CeInteger(-7), ExtensionValue::Integer(-7)),
        (
            Attr::CeString("x y".into()),
            ExtensionValue::String("x y".into()),
        ),
        (
            Attr::CeBytes(Bytes::from_static(b"\x00\xff")),
            ExtensionValue::Binary(Bytes::from_static(b"\x00\xff")),
        ),
        (
            Attr::CeUri("https://a/b".into()),
            ExtensionValue::Uri("https://a/b".into()),
        ),
        (
            Attr::CeUriRef("/a/b".into()),
            ExtensionValue::UriRef("/a/b".into()),
        ),
        (
            Attr::CeTimestamp(time),
            ExtensionValue::Timestamp("2023-11-14T22:13:20.120Z".into()),
        ),
    ];
    for (attr, expected) in rows {
        let event = from_proto(with_attribute("ext", attr.clone())).expect("valid");
        assert_eq!(event.extensions.get("ext"), Some(&expected), "{attr:?}");
        // And leaves with the type it came with.
        assert_eq!(to_proto(&event).attributes["ext"].attr, Some(attr.clone()));
    }
}

#[test]
fn typed_extensions_are_their_canonical_strings_in_json() {
    let mut message = with_attribute("blob", Attr::CeBytes(Bytes::from_static(b"\x00\x01\xfe")));
    let ts = prost_types::Timestamp {
        seconds: 0,
        nanos: 0,
    };
    message.attributes.insert(
        "at".into(),
        CloudEventAttributeValue {
            attr: Some(Attr::CeTimestamp(ts)),
        },
    );
    let event = from_proto(message).expect("valid");
    let json: serde_json::Value = serde_json::from_slice(&json::to_vec(&event)).expect("json");
    assert_eq!(json["blob"], "AAH+");
    assert_eq!(json["at"], "1970-01-01T00:00:00Z");
    assert_eq!(event.attribute("blob").as_deref(), Some("AAH+"));
}

#[test]
fn typed_extensions_are_validated_by_their_type() {
    assert!(reject(with_attribute("u", Attr::CeUri("not absolute".into()))).contains("`u`"));
    assert!(reject(with_attribute("r", Attr::CeUriRef(String::new()))).contains("`r`"));
}

#[test]
fn core_attributes_leave_with_their_types() {
    let mut event = CloudEvent::new("1", "/s", "t");
    event.dataschema = Some("https://schema.example/v1".into());
    event.subject = Some("sub".into());
    event.time = Some("2020-01-01T01:00:00.5+01:00".into());
    event
        .extensions
        .insert("n".into(), ExtensionValue::Integer(3));
    event
        .extensions
        .insert("b".into(), ExtensionValue::Boolean(false));
    let message = to_proto(&event);
    let attr = |name: &str| message.attributes[name].attr.clone();
    assert_eq!(
        attr("dataschema"),
        Some(Attr::CeUri("https://schema.example/v1".into()))
    );
    assert_eq!(attr("subject"), Some(Attr::CeString("sub".into())));
    let time = prost_types::Timestamp {
        seconds: 1_577_836_800,
        nanos: 500_000_000,
    };
    assert_eq!(attr("time"), Some(Attr::CeTimestamp(time)));
    assert_eq!(attr("n"), Some(Attr::CeInteger(3)));
    assert_eq!(attr("b"), Some(Attr::CeBoolean(false)));
    assert_eq!(message.spec_version, "1.0");
    let back = from_proto(message).expect("valid");
    assert_eq!(back.time.as_deref(), Some("2020-01-01T00:00:00.500Z"));
}

#[test]
fn text_data_is_json_when_labelled_json_and_text_otherwise() {
    let mut message = with_attribute("datacontenttype", Attr::CeString("application/json".into()));
    message.data = Some(PbData::TextData(r#"{"a":1}"#.into()));
    let event = from_proto(message.clone()).expect("valid");
    assert_eq!(
        event.data,
        Some(Data::Json(Bytes::from_static(br#"{"a":1}"#)))
    );

    message.data = Some(PbData::TextData("{not json".into()));
    assert!(reject(message).contains("not valid JSON"));

    let mut plain = minimal();
    plain.data = Some(PbData::TextData(r#"{"a":1}"#.into()));
    let event = from_proto(plain).expect("valid");
    assert_eq!(event.data, Some(Data::Text(r#"{"a":1}"#.into())));
}

#[test]
fn json_data_without_a_label_leaves_labelled_json() {
    let mut event = CloudEvent::new("1", "/s", "t");
    event.data = Some(Data::Json(Bytes::from_static(b"[1,2]")));
    let message = to_proto(&event);
    assert_eq!(message.data, Some(PbData::TextData("[1,2]".into())));
    let back = from_proto(message).expect("valid");
    assert_eq!(back.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(back.data, event.data);
}

#[test]
fn proto_data_arrives_as_labelled_bytes_and_leaves_as_proto_data() {
    let mut message = minimal();
    message.data = Some(PbData::ProtoData(prost_types::Any {
        type_url: "type.googleapis.com/acme.Reading".into(),
        value: vec![8, 42],
    }));
    let event = from_proto(message).expect("valid");
    assert_eq!(
        event.datacontenttype.as_deref(),
        Some("application/protobuf")
    );
    assert_eq!(
        event.dataschema.as_deref(),
        Some("https://type.googleapis.com/acme.Reading")
    );
    assert_eq!(event.data, Some(Data::Binary(Bytes::from_static(&[8, 42]))));
    let again = to_proto(&event);
    let Some(PbData::ProtoData(any)) = again.data else {
        panic!("not proto_data: {again:?}");
    };
    assert_eq!(any.type_url, "https://type.googleapis.com/acme.Reading");
    assert_eq!(any.value, vec![8, 42]);
}

#[test]
fn binary_data_stays_bytes() {
    let mut message = with_attribute("datacontenttype", Attr::CeString("image/png".into()));
    message.data = Some(PbData::BinaryData(Bytes::from_static(b"\x89PNG")));
    let event = from_proto(message).expect("valid");
    assert_eq!(
        event.data,
        Some(Data::Binary(Bytes::from_static(b"\x89PNG")))
    );
    assert_eq!(
        to_proto(&event).data,
        Some(PbData::BinaryData(Bytes::from_static(b"\x89PNG")))
    );
}

#[test]
fn refuses_what_the_spec_forbids() {
    let mut old = minimal();
    old.spec_version = "0.3".into();
    assert!(reject(old).contains("specversion"));
    let mut no_id = minimal();
    no_id.id.clear();
    assert!(reject(no_id).contains("id"));
    assert!(reject(with_attribute("id", Attr::CeString("2".into()))).contains("id"));
    assert!(reject(with_attribute("Bad-Name", Attr::CeBoolean(true))).contains("Bad-Name"));
    let mut empty = minimal();
    empty
        .attributes
        .insert("ext".into(), CloudEventAttributeValue { attr: None });
    assert!(reject(empty).contains("no value"));
    let time = prost_types::Timestamp {
        seconds: 0,
        nanos: -1,
    };
    assert!(reject(with_attribute("time", Attr::CeTimestamp(time))).contains("time"));
    assert!(decode_event(b"\xff\xff\xff").is_err());
}

#[test]
fn a_batch_is_all_or_nothing_and_names_the_bad_event() {
    let mut bad = minimal();
    bad.r#type.clear();
    let batch = CloudEventBatch {
        events: vec![minimal(), bad],
    };
    let err = decode_batch(&batch.encode_to_vec()).expect_err("invalid");
    assert!(
        err.to_string().starts_with("event 1: attribute `type`"),
        "{err}"
    );
    assert_eq!(decode_batch(&[]).expect("empty batch"), vec![]);
}

/// What an event becomes through the protobuf format: JSON data gets its implied label, and
/// `time` is normalised to UTC.
fn after_protobuf(event: &CloudEvent) -> CloudEvent {
    let mut expected = event.clone();
    if expected.datacontenttype.is_none() && matches!(event.data, Some(Data::Json(_))) {
        expected.datacontenttype = Some("application/json".into());
    }
    expected.time = event.time.as_deref().map(|time| {
        chrono::DateTime::parse_from_rfc3339(time)
            .expect("generated times parse")
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    });
    expected
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn protobuf_format_round_trips(event in event()) {
        let decoded = decode_event(&encode_event(&event)).expect("valid");
        prop_assert_eq!(&decoded, &after_protobuf(&event));
        // Once through, the protobuf and JSON formats agree exactly.
        prop_assert_eq!(&decode_event(&encode_event(&decoded)).expect("valid"), &decoded);
        let json = json::to_vec(&decoded);
        prop_assert_eq!(&json::decode_event(&Bytes::from(json)).expect("valid"), &decoded);
    }

    #[test]
    fn protobuf_batch_round_trips(events in vec(event(), 0..4)) {
        let decoded = decode_batch(&encode_batch(&events)).expect("valid");
        let expected: Vec<_> = events.iter().map(after_protobuf).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn typed_extensions_round_trip_exactly(
        event in event(),
        blob in vec(any::<u8>(), 0..16),
        uri in crate::tests::absolute_uri(),
        reference in crate::tests::uri_reference(),
    ) {
        let mut event = after_protobuf(&event);
        event.extensions.insert("xblob".into(), ExtensionValue::Binary(Bytes::from(blob)));
        event.extensions.insert("xuri".into(), ExtensionValue::Uri(uri));
        event.extensions.insert("xref".into(), ExtensionValue::UriRef(reference));
        prop_assert_eq!(decode_event(&encode_event(&event)).expect("valid"), event);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_input(input in vec(any::<u8>(), 0..256)) {
        let _ = decode_event(&input);
        let _ = decode_batch(&input);
    }
}
