//! Property tests across the codecs: any valid event survives the JSON format exactly, and the
//! HTTP binary mode round-trips through the JSON format without losing an attribute or a byte.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderMap;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use super::http::is_text_media_type;
use super::http::{decode_binary, decode_header_value, encode_binary, encode_header_value};
use super::json::{self, is_json_media_type};
use super::{CloudEvent, Data, ExtensionValue};

/// Any character the CloudEvents String type allows (control characters and noncharacters are
/// swapped for a letter rather than filtered, so that generation never gives up).
pub(crate) fn allowed_char() -> impl Strategy<Value = char> {
    any::<char>().prop_map(|c| {
        let code = u32::from(c);
        let forbidden =
            c.is_control() || (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE;
        if forbidden { 'x' } else { c }
    })
}

pub(crate) fn string(min: usize, max: usize) -> impl Strategy<Value = String> {
    let emoji = prop_oneof![allowed_char(), Just('😀'), Just('€'), Just('"'), Just('%')];
    vec(emoji, min..=max).prop_map(String::from_iter)
}

/// A non-empty string without whitespace: a URI-reference as far as we check.
pub(crate) fn uri_reference() -> impl Strategy<Value = String> {
    string(1, 16).prop_map(|s| {
        s.chars()
            .map(|c| if c.is_whitespace() { '/' } else { c })
            .collect()
    })
}

pub(crate) fn absolute_uri() -> impl Strategy<Value = String> {
    ("[a-zA-Z][a-zA-Z0-9+.-]{0,6}", uri_reference())
        .prop_map(|(scheme, rest)| format!("{scheme}:{rest}"))
}

pub(crate) fn timestamp() -> impl Strategy<Value = String> {
    let date = (
        0..=9999u32,
        1..=12u32,
        1..=28u32,
        0..24u32,
        0..60u32,
        0..60u32,
    );
    let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{1,9}"];
    let offset = prop_oneof![Just("Z".to_owned()), "[+-](0[0-9]|1[0-3]):[0-5][0-9]"];
    (date, fraction, offset).prop_map(|((y, mo, d, h, mi, s), fraction, offset)| {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{offset}")
    })
}

pub(crate) fn extension_name() -> impl Strategy<Value = String> {
    const RESERVED: [&str; 9] = [
        "id",
        "source",
        "specversion",
        "type",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "data",
    ];
    "[a-z0-9]{1,20}".prop_filter("reserved", |name| !RESERVED.contains(&name.as_str()))
}

pub(crate) fn extension_value() -> impl Strategy<Value = ExtensionValue> {
    prop_oneof![
        string(0, 12).prop_map(ExtensionValue::String),
        any::<i32>().prop_map(ExtensionValue::Integer),
        any::<bool>().prop_map(ExtensionValue::Boolean),
    ]
}

pub(crate) fn json_text() -> impl Strategy<Value = Bytes> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            btree_map(any::<String>(), inner, 0..5)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    });
    // Pretty-printing checks that the raw text, inner whitespace included, is kept as-is.
    (value, any::<bool>()).prop_map(|(value, pretty)| {
        let text = if pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
        };
        Bytes::from(text.unwrap_or_default())
    })
}

/// Content types of every kind, paired with data that the JSON format can carry for them.
pub(crate) fn content_and_data() -> impl Strategy<Value = (Option<String>, Option<Data>)> {
    let binary = vec(any::<u8>(), 0..48).prop_map(|b| Data::Binary(Bytes::from(b)));
    let text = any::<String>().prop_map(Data::Text);
    let json = json_text().prop_map(Data::Json);
    let json_type = prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some(
            "application/vnd.example+json; charset=utf-8".to_owned()
        )),
    ];
    let other_type = prop_oneof![
        Just("text/plain".to_owned()),
        Just("text/xml; charset=UTF-8".to_owned()),
        Just("text/plain; charset=iso-8859-1".to_owned()),
        Just("application/octet-stream".to_owned()),
        Just("image/png".to_owned()),
    ];
    prop_oneof![
        (json_type.clone(), prop::option::of(json)),
        (json_type, prop::option::of(binary.clone())),
        (other_type, prop::option::of(prop_oneof![text, binary])).prop_map(|(t, d)| (Some(t), d)),
    ]
}

pub(crate) fn event() -> impl Strategy<Value = CloudEvent> {
    let attributes = (
        string(1, 16),
        uri_reference(),
        string(1, 16),
        prop::option::of(absolute_uri()),
        prop::option::of(string(1, 16)),
        prop::option::of(timestamp()),
    );
    let extensions = btree_map(extension_name(), extension_value(), 0..5);
    (attributes, extensions, content_and_data()).prop_map(
        |((id, source, ty, dataschema, subject, time), extensions, (datacontenttype, data))| {
            CloudEvent {
                id,
                source,
                ty,
                datacontenttype,
                dataschema,
                subject,
                time,
                extensions,
                data,
            }
        },
    )
}

/// What decoding an event's binary-mode message must give: extensions lose their types, the
/// defaulted `Content-Type` becomes `datacontenttype`, and the body is classified by it.
fn after_binary_mode(event: &CloudEvent) -> CloudEvent {
    let mut expected = event.clone();
    expected.extensions = event
        .extensions
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                ExtensionValue::String(value.to_canonical_string()),
            )
        })
        .collect::<BTreeMap<_, _>>();
    if expected.datacontenttype.is_none() {
        expected.datacontenttype = match &event.data {
            Some(Data::Json(_)) => Some("application/json".to_owned()),
            Some(Data::Text(_)) => Some("text/plain; charset=utf-8".to_owned()),
            _ => None,
        };
    }
    let body = match &event.data {
        None => Bytes::new(),
        Some(Data::Json(bytes) | Data::Binary(bytes)) => bytes.clone(),
        Some(Data::Text(text)) => Bytes::from(text.clone()),
    };
    let content_type = expected.datacontenttype.as_deref();
    expected.data = match std::str::from_utf8(&body) {
        _ if body.is_empty() => None,
        _ if content_type.is_some() && is_json_media_type(content_type) => Some(Data::Json(body)),
        Ok(text) if content_type.is_some_and(is_text_media_type) => {
            Some(Data::Text(text.to_owned()))
        }
        _ => Some(Data::Binary(body)),
    };
    expected
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_format_round_trips_exactly(event in event()) {
        let encoded = Bytes::from(json::to_vec(&event));
        prop_assert_eq!(json::decode_event(&encoded), Ok(event));
    }

    #[test]
    fn json_batch_round_trips_exactly(events in vec(event(), 0..4)) {
        let mut encoded = Vec::new();
        json::encode_batch(&events, &mut encoded);
        prop_assert_eq!(json::decode_batch(&Bytes::from(encoded)), Ok(events));
    }

    #[test]
    fn binary_structured_binary_keeps_every_attribute_and_byte(event in event()) {
        // Binary data labelled JSON is valid in the JSON format but cannot be a binary-mode body.
        let json_labelled_binary = matches!(event.data, Some(Data::Binary(_)))
            && event.datacontenttype.is_some()
            && is_json_media_type(event.datacontenttype.as_deref());
        prop_assume!(!json_labelled_binary);

        let mut headers = HeaderMap::new();
        let body = encode_binary(&event, &mut headers);
        let received = decode_binary(&headers, body.clone());
        prop_assert_eq!(&received, &Ok(after_binary_mode(&event)));
        let received = received.map_err(|e| TestCaseError::fail(e.to_string()))?;

        let structured = Bytes::from(json::to_vec(&received));
        let transcoded = json::decode_event(&structured);
        prop_assert_eq!(&transcoded, &Ok(received));
        let transcoded = transcoded.map_err(|e| TestCaseError::fail(e.to_string()))?;

        let mut headers_again = HeaderMap::new();
        let body_again = encode_binary(&transcoded, &mut headers_again);
        prop_assert_eq!(headers_again, headers);
        prop_assert_eq!(body_again, body);
    }

    #[test]
    fn header_values_round_trip(value in any::<String>()) {
        let encoded = encode_header_value(&value);
        prop_assert!(encoded.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        prop_assert_eq!(decode_header_value(encoded.as_bytes()), Ok(value.clone()));
        // Receivers must accept lower-case hex too.
        let lower = encoded.to_ascii_lowercase();
        let lower_value = decode_header_value(lower.as_bytes()).map(|v| v.to_ascii_lowercase());
        prop_assert_eq!(lower_value, Ok(value.to_ascii_lowercase()));
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_input(input in vec(any::<u8>(), 0..256)) {
        let input = Bytes::from(input);
        let _ = json::decode_event(&input);
        let _ = json::decode_batch(&input);
        let _ = decode_header_value(&input);
    }

    #[test]
    fn decoders_never_panic_on_damaged_events(event in event(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut encoded = json::to_vec(&event);
        let at = cut.index(encoded.len());
        encoded[at] = byte;
        let _ = json::decode_event(&Bytes::from(encoded.clone()));
        encoded.truncate(at);
        let _ = json::decode_event(&Bytes::from(encoded));
    }
}
