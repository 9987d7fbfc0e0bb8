//! The mapping, both ways, and round trips between binary and structured mode.

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, ByteArray, FieldTable, LongString, ShortString};
use proptest::prelude::*;

use switchyard_core::cloudevent::{CloudEvent, Data, DecodeError, ExtensionValue, json};

use super::*;
use crate::config::WrapConfig;

const BINARY: EncodeOptions = EncodeOptions {
    mode: AmqpMode::Binary,
    prefix: HeaderPrefix::Underscore,
    persistent: true,
};

const STRUCTURED: EncodeOptions = EncodeOptions {
    mode: AmqpMode::Structured,
    prefix: HeaderPrefix::Underscore,
    persistent: false,
};

const CONTEXT: WrapContext<'static> = WrapContext {
    inbound: "orders-in",
    queue: "orders",
    exchange: "events",
    routing_key: "orders.created",
};

fn decode_message(properties: &BasicProperties, body: &[u8]) -> Result<CloudEvent, DecodeError> {
    let wrapper = Wrapper::new(&WrapConfig::default()).expect("default templates parse");
    let message = Incoming {
        properties,
        body: Bytes::copy_from_slice(body),
    };
    decode(&message, &wrapper, &CONTEXT)
}

fn headers(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in entries {
        table.insert(ShortString::from(*name), value.clone());
    }
    table
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn required(prefix: &str) -> Vec<(String, AMQPValue)> {
    [
        ("specversion", "1.0"),
        ("id", "42"),
        ("source", "/orders"),
        ("type", "order.created"),
    ]
    .into_iter()
    .map(|(name, value)| (format!("{prefix}{name}"), text(value)))
    .collect()
}

fn binary_properties(extra: &[(&str, AMQPValue)], prefix: &str) -> BasicProperties {
    let mut entries = required(prefix);
    entries.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
    let borrowed: Vec<(&str, AMQPValue)> = entries
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    BasicProperties::default().with_headers(headers(&borrowed))
}

#[test]
fn binary_mode_reads_both_prefixes_and_json_data() {
    for prefix in ["cloudEvents_", "cloudEvents:"] {
        let properties =
            binary_properties(&[], prefix).with_content_type("application/json".into());
        let event = decode_message(&properties, br#"{"total": 3}"#).expect("decodes");
        assert_eq!(
            (event.id.as_str(), event.source.as_str(), event.ty.as_str()),
            ("42", "/orders", "order.created")
        );
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            event.data,
            Some(Data::Json(Bytes::from_static(br#"{"total": 3}"#)))
        );
    }
}

#[test]
fn binary_mode_accepts_native_amqp_types() {
    let properties = binary_properties(
        &[
            ("cloudEvents_time", AMQPValue::Timestamp(1_700_000_000)),
            ("cloudEvents_flag", AMQPValue::Boolean(true)),
            ("cloudEvents_small", AMQPValue::ShortInt(-7)),
            ("cloudEvents_count", AMQPValue::LongInt(12)),
            ("cloudEvents_wide", AMQPValue::LongLongInt(1 << 40)),
            ("cloudEvents_short", AMQPValue::ShortString("s".into())),
            (
                "cloudEvents_raw",
                AMQPValue::ByteArray(ByteArray::from(vec![1u8, 2, 3])),
            ),
            ("x-other", AMQPValue::Double(1.5)),
        ],
        "cloudEvents_",
    );
    let event = decode_message(&properties, b"").expect("decodes");
    assert_eq!(event.time.as_deref(), Some("2023-11-14T22:13:20Z"));
    let ext = |name: &str| event.extensions[name].clone();
    assert_eq!(ext("flag"), ExtensionValue::Boolean(true));
    assert_eq!(ext("small"), ExtensionValue::Integer(-7));
    assert_eq!(ext("count"), ExtensionValue::Integer(12));
    assert_eq!(ext("wide"), ExtensionValue::String("1099511627776".into()));
    assert_eq!(ext("short"), ExtensionValue::String("s".into()));
    assert_eq!(ext("raw"), ExtensionValue::String("AQID".into()));
    assert_eq!(event.data, None);
}

#[test]
fn binary_mode_data_follows_the_content_type() {
    let properties = binary_properties(&[], "cloudEvents_");
    let event = decode_message(
        &properties.clone().with_content_type("text/plain".into()),
        b"hi",
    )
    .expect("decodes");
    assert_eq!(event.data, Some(Data::Text("hi".into())));
    let event = decode_message(&properties, &[0xff, 0x00]).expect("decodes");
    assert_eq!(
        event.data,
        Some(Data::Binary(Bytes::from_static(&[0xff, 0x00])))
    );
    assert_eq!(event.datacontenttype, None);
}

#[test]
fn invalid_binary_messages_are_errors() {
    let without_specversion =
        BasicProperties::default().with_headers(headers(&[("cloudEvents_id", text("1"))]));
    let err = decode_message(&without_specversion, b"").expect_err("missing specversion");
    assert_eq!(err.attribute.as_deref(), Some("specversion"));
    let both = binary_properties(&[("cloudEvents:id", text("2"))], "cloudEvents_");
    assert_eq!(
        decode_message(&both, b"")
            .expect_err("duplicate")
            .attribute
            .as_deref(),
        Some("id")
    );
    let bad_utf8 = binary_properties(
        &[("cloudEvents_x", AMQPValue::LongString(vec![0xffu8].into()))],
        "cloudEvents_",
    );
    assert!(decode_message(&bad_utf8, b"").is_err());
    let float = binary_properties(&[("cloudEvents_x", AMQPValue::Double(1.0))], "cloudEvents_");
    assert!(decode_message(&float, b"").is_err());
    let bad_name = binary_properties(&[("cloudEvents_Bad", text("x"))], "cloudEvents_");
    assert!(decode_message(&bad_name, b"").is_err());
    let bad_json =
        binary_properties(&[], "cloudEvents_").with_content_type("application/json".into());
    assert!(decode_message(&bad_json, b"{not json").is_err());
}

#[test]
fn structured_mode_is_detected_by_content_type() {
    let body = br#"{"specversion":"1.0","id":"7","source":"/s","type":"t","data":{"a":1}}"#;
    for content_type in [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON; charset=utf-8",
    ] {
        let properties = BasicProperties::default().with_content_type(content_type.into());
        let event = decode_message(&properties, body).expect("decodes");
        assert_eq!(event.id, "7");
        assert_eq!(
            event.data,
            Some(Data::Json(Bytes::from_static(br#"{"a":1}"#)))
        );
    }
    let batch =
        BasicProperties::default().with_content_type("application/cloudevents-batch+json".into());
    assert!(decode_message(&batch, b"[]").is_err());
    let avro = BasicProperties::default().with_content_type("application/cloudevents+avro".into());
    assert!(decode_message(&avro, b"x").is_err());
    let structured = BasicProperties::default().with_content_type(STRUCTURED_CONTENT_TYPE.into());
    assert!(decode_message(&structured, &[0xff, 0xfe]).is_err());
    assert!(
        decode_message(
            &structured,
            br#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#
        )
        .is_err()
    );
}

#[test]
fn plain_messages_are_wrapped() {
    let properties = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_message_id("m-1".into());
    let event = decode_message(&properties, b"hello").expect("wraps");
    assert_eq!(event.id, "m-1");
    assert_eq!(event.source, "/amqp/orders");
    assert_eq!(event.ty, "dev.switchyard.amqp.message");
    assert_eq!(event.subject.as_deref(), Some("orders.created"));
    assert_eq!(event.datacontenttype.as_deref(), Some("text/plain"));
    assert_eq!(event.data, Some(Data::Text("hello".into())));
    assert!(event.time.is_some());
    let anonymous = decode_message(&BasicProperties::default(), b"\x00\x01").expect("wraps");
    assert_eq!(anonymous.id.len(), 36, "a UUID");
    assert_eq!(
        anonymous.data,
        Some(Data::Binary(Bytes::from_static(b"\x00\x01")))
    );
    let lying = BasicProperties::default().with_content_type("application/json".into());
    assert!(decode_message(&lying, b"{oops").is_err());
}

fn sample() -> CloudEvent {
    let mut event = CloudEvent::new("id-1", "/sensors/1", "reading");
    event.subject = Some("room 4".into());
    event.time = Some("2024-05-01T12:30:45.123456+02:00".into());
    event.dataschema = Some("https://example.com/schema".into());
    event
        .extensions
        .insert("count".into(), ExtensionValue::Integer(-5));
    event
        .extensions
        .insert("ok".into(), ExtensionValue::Boolean(false));
    event
        .extensions
        .insert("label".into(), ExtensionValue::String("ünïcode".into()));
    event.datacontenttype = Some("application/json".into());
    event.data = Some(Data::Json(Bytes::from_static(br#"{"t":21.5}"#)));
    event
}

#[test]
fn binary_encoding_sets_headers_and_properties() {
    let out = encode(&sample(), BINARY).expect("encodes");
    let table = out.properties.headers().clone().expect("headers");
    let get = |name: &str| table.inner().get(name).cloned();
    assert_eq!(get("cloudEvents_specversion"), Some(text("1.0")));
    assert_eq!(
        get("cloudEvents_time"),
        Some(text("2024-05-01T12:30:45.123456+02:00"))
    );
    assert_eq!(get("cloudEvents_count"), Some(AMQPValue::LongInt(-5)));
    assert_eq!(get("cloudEvents_ok"), Some(AMQPValue::Boolean(false)));
    assert_eq!(get("cloudEvents_datacontenttype"), None);
    assert_eq!(
        out.properties
            .content_type()
            .as_ref()
            .map(ShortString::as_str),
        Some("application/json")
    );
    assert_eq!(
        out.properties
            .message_id()
            .as_ref()
            .map(ShortString::as_str),
        Some("id-1")
    );
    assert_eq!(*out.properties.timestamp(), Some(1_714_559_445));
    assert_eq!(*out.properties.delivery_mode(), Some(2));
    assert_eq!(out.body, Bytes::from_static(br#"{"t":21.5}"#));
    let colon = encode(
        &sample(),
        EncodeOptions {
            prefix: HeaderPrefix::Colon,
            ..BINARY
        },
    )
    .expect("encodes");
    assert!(
        colon
            .properties
            .headers()
            .as_ref()
            .expect("headers")
            .contains_key("cloudEvents:id")
    );
}

#[test]
fn structured_encoding_is_the_json_format() {
    let out = encode(&sample(), STRUCTURED).expect("encodes");
    assert_eq!(
        out.properties
            .content_type()
            .as_ref()
            .map(ShortString::as_str),
        Some(STRUCTURED_CONTENT_TYPE)
    );
    assert_eq!(*out.properties.delivery_mode(), None);
    assert_eq!(out.properties.headers(), &None);
    assert_eq!(
        json::decode_event(&out.body).expect("JSON format"),
        sample()
    );
}

#[test]
fn unrepresentable_values_are_errors() {
    let mut event = sample();
    event.datacontenttype = Some(format!("application/{}", "x".repeat(300)));
    assert!(matches!(
        encode(&event, BINARY),
        Err(EncodeError::TooLong(_))
    ));
    // Structured mode carries it in the body, so it is fine there.
    assert!(encode(&event, STRUCTURED).is_ok());
    let mut event = sample();
    event.id = "i".repeat(300);
    let out = encode(&event, BINARY).expect("the id travels in a header");
    assert_eq!(out.properties.message_id(), &None);
}

/// Encodes in `options`' mode and decodes what a consumer would receive.
fn through(event: &CloudEvent, options: EncodeOptions) -> CloudEvent {
    let out = encode(event, options).expect("encodes");
    decode_message(&out.properties, &out.body).expect("decodes")
}

#[test]
fn binary_and_structured_round_trip() {
    let event = sample();
    assert_eq!(through(&event, BINARY), event);
    assert_eq!(through(&event, STRUCTURED), event);
    assert_eq!(through(&through(&event, BINARY), STRUCTURED), event);
    assert_eq!(through(&through(&event, STRUCTURED), BINARY), event);
}

fn arbitrary_event() -> impl Strategy<Value = CloudEvent> {
    let extension = prop_oneof![
        "[ -~]{0,12}".prop_map(ExtensionValue::String),
        any::<i32>().prop_map(ExtensionValue::Integer),
        any::<bool>().prop_map(ExtensionValue::Boolean),
    ];
    let data = prop_oneof![
        Just((None, None)),
        any::<i64>().prop_map(|n| (
            Some("application/json".to_owned()),
            Some(Data::Json(Bytes::from(format!("{{\"n\":{n}}}"))))
        )),
        "[a-z ]{1,20}".prop_map(|t| (Some("text/plain".to_owned()), Some(Data::Text(t)))),
        proptest::collection::vec(any::<u8>(), 1..32).prop_map(|b| (
            Some("application/octet-stream".to_owned()),
            Some(Data::Binary(Bytes::from(b)))
        )),
    ];
    (
        "[A-Za-z0-9-]{1,30}",
        "/[a-z/]{0,20}",
        "[a-z.]{1,20}",
        proptest::option::of("[ -~]{1,20}"),
        proptest::option::of(
            "20[0-9]{2}-0[1-9]-1[0-9]T1[0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|\\+01:00)",
        ),
        proptest::collection::btree_map("x[a-z0-9]{0,8}", extension, 0..4),
        data,
    )
        .prop_map(
            |(id, source, ty, subject, time, extensions, (datacontenttype, data))| CloudEvent {
                id,
                source,
                ty,
                datacontenttype,
                dataschema: None,
                subject,
                time,
                extensions,
                data,
            },
        )
        .prop_filter("valid events only", |event| event.validate().is_ok())
}

proptest! {
    #[test]
    fn every_valid_event_round_trips(event in arbitrary_event()) {
        prop_assert_eq!(&through(&event, BINARY), &event);
        prop_assert_eq!(&through(&event, STRUCTURED), &event);
        prop_assert_eq!(&through(&through(&event, BINARY), STRUCTURED), &event);
    }
}
