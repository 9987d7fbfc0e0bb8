//! Decoding: every mapping of the MQTT binding, and wrapping. Encoding and the round trip of
//! generated events are in [`encoding`].

use bytes::Bytes;
use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue};

use super::*;
use crate::config::WrapConfig;

mod encoding;

fn wrapper() -> Wrapper {
    Wrapper::compile(&WrapConfig::default(), "broker:1883").expect("default wrap settings")
}

fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn receive(
    topic: &str,
    content_type: Option<&str>,
    properties: &[(String, String)],
    payload: &[u8],
) -> Result<CloudEvent, DecodeError> {
    let payload = Bytes::copy_from_slice(payload);
    let message = MqttMessage {
        topic,
        payload: &payload,
        content_type,
        user_properties: properties,
    };
    decode(message, &wrapper())
}

const REQUIRED: [(&str, &str); 4] = [
    ("specversion", "1.0"),
    ("id", "42"),
    ("source", "/sensors/1"),
    ("type", "com.example.reading"),
];

fn binary_props(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = props(&REQUIRED);
    all.extend(props(extra));
    all
}

#[test]
fn structured_mode_is_detected_by_content_type() {
    let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}}"#;
    for content_type in [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON; charset=utf-8",
    ] {
        let event = receive("a/b", Some(content_type), &[], body).expect(content_type);
        assert_eq!(event.id, "1");
        assert_eq!(
            event.data,
            Some(Data::Json(Bytes::from_static(br#"{"a":1}"#)))
        );
    }
}

#[test]
fn structured_mode_refuses_other_formats_batches_and_bad_json() {
    let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
    let batch = receive("t", Some("application/cloudevents-batch+json"), &[], body);
    assert!(batch.expect_err("batch").reason.contains("batched mode"));
    let avro = receive("t", Some("application/cloudevents+avro"), &[], body);
    assert!(avro.expect_err("avro").reason.contains("not supported"));
    assert!(receive("t", Some(STRUCTURED_CONTENT_TYPE), &[], b"{not json").is_err());
    assert!(
        receive(
            "t",
            Some(STRUCTURED_CONTENT_TYPE),
            &[],
            b"{\"id\":\"\xff\"}"
        )
        .is_err()
    );
}

#[test]
fn binary_mode_maps_user_properties_to_attributes() {
    let properties = binary_props(&[
        ("subject", "temperature"),
        ("time", "2024-05-01T10:00:00Z"),
        ("traceparent", "00-abc-01"),
    ]);
    let event = receive(
        "t",
        Some("application/json"),
        &properties,
        br#" {"celsius": 21.5} "#,
    )
    .expect("valid binary mode");
    assert_eq!(
        (event.id.as_str(), event.source.as_str(), event.ty.as_str()),
        ("42", "/sensors/1", "com.example.reading")
    );
    assert_eq!(event.subject.as_deref(), Some("temperature"));
    assert_eq!(event.time.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(
        event.data,
        Some(Data::Json(Bytes::from_static(br#"{"celsius": 21.5}"#)))
    );
    assert_eq!(event.extensions.len(), 1);
    assert_eq!(
        event.extensions["traceparent"],
        ExtensionValue::String("00-abc-01".into())
    );
}

#[test]
fn binary_mode_refuses_user_properties_that_are_not_attribute_names() {
    // A sender may have meant any of these as an attribute; none may vanish unnoticed.
    for name in [
        "Bad-Name",
        "Subject",
        "trace_id",
        "content-encoding",
        "",
        "data",
    ] {
        let properties = binary_props(&[(name, "v")]);
        let err = receive("t", None, &properties, b"").expect_err(name);
        assert_eq!(err.attribute.as_deref(), Some(name), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("attribute `{name}`: user property is not a valid")),
            "{message}"
        );
    }
}

#[test]
fn binary_mode_data_follows_the_content_type() {
    let properties = binary_props(&[]);
    let text = receive(
        "t",
        Some("text/plain; charset=utf-8"),
        &properties,
        b"hello",
    )
    .expect("text");
    assert_eq!(text.data, Some(Data::Text("hello".into())));
    let bytes = receive(
        "t",
        Some("application/octet-stream"),
        &properties,
        b"\x00\x01",
    )
    .expect("binary");
    assert_eq!(
        bytes.data,
        Some(Data::Binary(Bytes::from_static(b"\x00\x01")))
    );
    let untyped = receive("t", None, &properties, b"{}").expect("no content type");
    assert_eq!(
        (untyped.datacontenttype, untyped.data),
        (None, Some(Data::Binary(Bytes::from_static(b"{}"))))
    );
    let empty = receive("t", Some("application/json"), &properties, b"").expect("no data");
    assert_eq!(empty.data, None);
    assert!(receive("t", Some("application/json"), &properties, b"{oops").is_err());
}

#[test]
fn binary_mode_accepts_datacontenttype_as_a_user_property() {
    let properties = binary_props(&[("datacontenttype", "text/plain")]);
    let event = receive("t", None, &properties, b"hi").expect("property accepted");
    assert_eq!(event.datacontenttype.as_deref(), Some("text/plain"));
    assert_eq!(event.data, Some(Data::Text("hi".into())));
    let event =
        receive("t", Some("application/json"), &properties, b"1").expect("Content Type wins");
    assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
}

#[test]
fn binary_mode_refuses_invalid_events() {
    let cases: [(Vec<(String, String)>, &str); 4] = [
        (
            props(&[("specversion", "1.0"), ("source", "/s"), ("type", "t")]),
            "attribute `id`: missing",
        ),
        (
            props(&[
                ("specversion", "0.3"),
                ("id", "1"),
                ("source", "/s"),
                ("type", "t"),
            ]),
            "attribute `specversion`",
        ),
        (
            binary_props(&[("id", "again")]),
            "attribute `id`: appears more than once",
        ),
        (binary_props(&[("time", "yesterday")]), "attribute `time`"),
    ];
    for (properties, expected) in cases {
        let err = receive("t", None, &properties, b"").expect_err(expected);
        assert!(err.to_string().starts_with(expected), "{err} vs {expected}");
    }
}

#[test]
fn a_payload_without_content_type_that_is_a_cloudevent_is_structured() {
    let body = br#"{"specversion":"1.0","id":"9","source":"/s","type":"t","data":"x"}"#;
    let event = receive("t", None, &[], body).expect("structured without content type");
    assert_eq!(event.id, "9");
    let broken = br#"{"specversion":"1.0","source":"/s","type":"t"}"#;
    let err = receive("t", None, &[], broken).expect_err("meant as a CloudEvent");
    assert_eq!(err.to_string(), "attribute `id`: missing");
}

#[test]
fn plain_payloads_are_wrapped() {
    let json = receive("sensors/1", None, &[], br#"{"temp":21}"#).expect("json");
    assert_eq!(json.source, "mqtt://broker:1883/sensors/1");
    assert_eq!(json.ty, "dev.switchyard.mqtt.message");
    assert_eq!(json.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(
        json.data,
        Some(Data::Json(Bytes::from_static(br#"{"temp":21}"#)))
    );
    assert!(json.time.is_some() && uuid::Uuid::parse_str(&json.id).is_ok());
    let text = receive("t", None, &[], b"hello").expect("not JSON");
    assert_eq!(
        (text.datacontenttype, text.data),
        (None, Some(Data::Binary(Bytes::from_static(b"hello"))))
    );
    let typed = receive("t", Some("text/plain"), &[], b"hello").expect("v5 content type");
    assert_eq!(
        (typed.datacontenttype.as_deref(), typed.data),
        (Some("text/plain"), Some(Data::Text("hello".into())))
    );
    assert_eq!(receive("t", None, &[], b"").expect("empty").data, None);
    assert!(
        receive("t", Some("application/json"), &[], b"nope").is_err(),
        "a JSON content type must hold JSON"
    );
}

fn wrap_with(config: WrapConfig, topic: &str) -> Result<CloudEvent, DecodeError> {
    let wrapper = Wrapper::compile(&config, "b:1883").expect("valid");
    wrapper.wrap(topic, None, &Bytes::from_static(b"21.5"))
}

#[test]
fn wrap_templates_name_topic_levels() {
    let config = WrapConfig {
        topic_pattern: Some("sensors/{device}/+/#".into()),
        source: "/devices/{device}".into(),
        ty: "com.example.{device}.reading".into(),
        subject: Some("{device}".into()),
        datacontenttype: Some("text/plain".into()),
    };
    let event = wrap_with(config.clone(), "sensors/dev 7/temperature/celsius").expect("matches");
    assert_eq!(event.source, "/devices/dev%207");
    assert_eq!(event.ty, "com.example.dev 7.reading");
    assert_eq!(event.subject.as_deref(), Some("dev 7"));
    assert_eq!(event.data, Some(Data::Text("21.5".into())));
    let err = wrap_with(config.clone(), "other/dev/x").expect_err("source needs {device}");
    assert_eq!(err.attribute.as_deref(), Some("source"));
    let lenient = WrapConfig {
        source: "/mqtt/{topic}".into(),
        ty: "t".into(),
        ..config
    };
    let event = wrap_with(lenient, "other/a?b").expect("only the subject needs the pattern");
    assert_eq!(
        (event.source.as_str(), event.subject),
        ("/mqtt/other/a%3Fb", None)
    );
}

#[test]
fn wrap_settings_are_checked() {
    let cases = [
        (
            WrapConfig {
                source: "/x/{nope}".into(),
                ..WrapConfig::default()
            },
            "source",
        ),
        (
            WrapConfig {
                topic_pattern: Some("a/{x}/{x}".into()),
                ..WrapConfig::default()
            },
            "topic_pattern",
        ),
        (
            WrapConfig {
                topic_pattern: Some("a/#/b".into()),
                ..WrapConfig::default()
            },
            "topic_pattern",
        ),
        (
            WrapConfig {
                topic_pattern: Some("a/b{x}".into()),
                ..WrapConfig::default()
            },
            "topic_pattern",
        ),
        (
            WrapConfig {
                ty: "".into(),
                ..WrapConfig::default()
            },
            "type",
        ),
        (
            WrapConfig {
                subject: Some("{topic".into()),
                ..WrapConfig::default()
            },
            "subject",
        ),
    ];
    for (config, key) in cases {
        let errors = Wrapper::compile(&config, "b").expect_err(key);
        assert_eq!(errors[0].0, key, "{errors:?}");
    }
}
