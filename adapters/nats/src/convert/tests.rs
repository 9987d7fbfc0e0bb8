use async_nats::HeaderMap;
use bytes::Bytes;

use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue};

use super::*;
use crate::config::WrapConfig;

fn wrapper() -> Wrapper {
    Wrapper::new("orders", &WrapConfig::default()).expect("the defaults compile")
}

fn receive(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<CloudEvent, DecodeError> {
    let payload = Bytes::copy_from_slice(payload);
    let message = NatsMessage {
        subject: "orders.eu",
        headers,
        payload: &payload,
    };
    decode(message, &wrapper())
}

fn sample() -> CloudEvent {
    let mut event = CloudEvent::new("e-1", "/orders", "order.created");
    event.subject = Some("17".into());
    event.datacontenttype = Some("application/json".into());
    event.data = Some(Data::Json(Bytes::from_static(br#"{"n":1}"#)));
    event
        .extensions
        .insert("priority".into(), ExtensionValue::Integer(3));
    event
}

#[test]
fn binary_mode_round_trips_with_ce_datacontenttype() {
    let encoded = encode(&sample(), NatsMode::Binary).expect("encodes");
    let header = |name: &str| encoded.headers.get(name).map(HeaderValue::as_str);
    assert_eq!(header("ce-datacontenttype"), Some("application/json"));
    assert_eq!(header("ce-priority"), Some("3"));
    assert_eq!(
        header("Content-Type"),
        None,
        "binary mode carries it as ce-datacontenttype"
    );
    let decoded = receive(Some(&encoded.headers), &encoded.payload).expect("decodes");
    assert_eq!(decoded.id, "e-1");
    assert_eq!(decoded.subject.as_deref(), Some("17"));
    assert_eq!(decoded.data, sample().data);
    assert_eq!(
        decoded.extensions["priority"],
        ExtensionValue::String("3".into()),
        "headers carry no types"
    );
}

#[test]
fn structured_mode_round_trips_exactly() {
    let encoded = encode(&sample(), NatsMode::Structured).expect("encodes");
    assert_eq!(
        encoded.headers.get("Content-Type").map(HeaderValue::as_str),
        Some(STRUCTURED_JSON)
    );
    assert_eq!(
        receive(Some(&encoded.headers), &encoded.payload),
        Ok(sample())
    );
    assert_eq!(
        receive(None, &encoded.payload),
        Ok(sample()),
        "no headers, 1.0.2 style"
    );
}

#[test]
fn a_value_with_a_line_break_is_refused_not_garbled() {
    let mut event = sample();
    event.subject = Some("a\nb".into());
    assert_eq!(
        encode(&event, NatsMode::Binary).err(),
        Some(EncodeError::Header("subject".into()))
    );
}

#[test]
fn anything_else_is_wrapped_and_broken_events_are_errors() {
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", "text/plain");
    let wrapped = receive(Some(&headers), b"hello").expect("wrapped");
    assert_eq!(wrapped.source, "nats:orders.eu");
    assert_eq!(wrapped.ty, "dev.switchyard.nats.message");
    assert_eq!(wrapped.data, Some(Data::Text("hello".into())));
    assert!(receive(None, br#"{"specversion": "1.0", "id": 1}"#).is_err());
    let mut broken = HeaderMap::new();
    broken.insert("Content-Type", "application/cloudevents+json");
    assert!(receive(Some(&broken), b"{not json").is_err());
    let mut missing = HeaderMap::new();
    missing.insert("ce-specversion", "1.0");
    assert!(
        receive(Some(&missing), b"").is_err(),
        "binary mode without an id"
    );
    let mut batch = HeaderMap::new();
    batch.insert("Content-Type", "application/cloudevents-batch+json");
    assert!(receive(Some(&batch), b"[]").is_err());
}
