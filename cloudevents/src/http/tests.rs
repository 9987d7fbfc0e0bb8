//! Unit tests of the HTTP binding: mode detection, header value coding, binary mode.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::{CloudEvent, Data, DecodeError, ExtensionValue, json};

/// A header as a test writes it: name and raw value bytes.
type Header<'a> = (&'a str, &'a [u8]);

fn headers(pairs: &[Header<'_>]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("name");
        map.append(name, HeaderValue::from_bytes(value).expect("value"));
    }
    map
}

/// The four required headers plus `extra`.
fn required_and(extra: &[Header<'_>]) -> HeaderMap {
    let mut pairs: Vec<Header<'_>> = vec![
        ("ce-specversion", b"1.0"),
        ("ce-id", b"1"),
        ("ce-source", b"/s"),
        ("ce-type", b"t"),
    ];
    pairs.extend_from_slice(extra);
    headers(&pairs)
}

fn decode(extra: &[Header<'_>], body: &'static [u8]) -> Result<CloudEvent, DecodeError> {
    decode_binary(&required_and(extra), Bytes::from_static(body))
}

#[test]
fn detects_modes_by_content_type_prefix() {
    let cases = [
        (Some("application/cloudevents+json"), Mode::Structured),
        (
            Some("Application/CloudEvents+JSON; charset=UTF-8"),
            Mode::Structured,
        ),
        (Some("application/cloudevents+avro"), Mode::Structured),
        (Some("application/cloudevents-batch+json"), Mode::Batch),
        (Some("APPLICATION/CLOUDEVENTS-BATCH+JSON"), Mode::Batch),
        (Some("application/json"), Mode::Binary),
        (Some("application/cloudevent"), Mode::Binary),
        (None, Mode::Binary),
    ];
    for (content_type, mode) in cases {
        assert_eq!(detect_mode(content_type), mode, "{content_type:?}");
    }
    let value = HeaderValue::from_static(BATCH_CONTENT_TYPE);
    assert_eq!(detect_mode(Some(&value)), Mode::Batch);
    assert_eq!(detect_mode(Some(STRUCTURED_CONTENT_TYPE)), Mode::Structured);
}

#[test]
fn binary_heuristic_needs_all_four_required_headers() {
    assert!(has_binary_headers(&required_and(&[])));
    let mut partial = required_and(&[]);
    partial.remove("ce-type");
    assert!(!has_binary_headers(&partial));
    assert!(has_binary_headers(&headers(&[
        ("CE-ID", b"1"),
        ("Ce-Source", b"/s"),
        ("ce-SpecVersion", b"1.0"),
        ("ce-type", b"t"),
    ])));
}

#[test]
fn header_value_test_vector() {
    assert_eq!(
        encode_header_value("Euro € 😀"),
        "Euro%20%E2%82%AC%20%F0%9F%98%80"
    );
    assert_eq!(
        decode_header_value(b"Euro%20%E2%82%AC%20%F0%9F%98%80"),
        Ok("Euro € 😀".to_owned())
    );
    assert_eq!(encode_header_value("a\"b%c\u{7f}\t"), "a%22b%25c%7F%09");
}

#[test]
fn header_values_are_unquoted_then_percent_decoded_once() {
    let cases: [(&[u8], &str); 7] = [
        (b"plain", "plain"),
        (b"%e2%82%ac", "€"),
        (b"%41", "A"),
        (b"%2541", "%41"),
        (br#""quoted value""#, "quoted value"),
        (br#""a\"b\\c%20d""#, "a\"b\\c d"),
        ("raw €".as_bytes(), "raw €"),
    ];
    for (raw, expected) in cases {
        assert_eq!(decode_header_value(raw).as_deref(), Ok(expected), "{raw:?}");
    }
}

#[test]
fn rejects_bad_header_values() {
    for raw in [
        &b"%C0%A0"[..],
        b"%E2%82",
        b"%FF",
        b"100%",
        b"%4",
        b"%zz",
        b"%%41",
        br#""a"b""#,
        br#""ab\""#,
    ] {
        decode_header_value(raw).expect_err(&String::from_utf8_lossy(raw));
    }
}

#[test]
fn decodes_the_spec_example() {
    let event = decode(
        &[
            ("ce-time", b"2018-04-05T03:56:24Z"),
            ("ce-comexampleextension1", b"value"),
            ("ce-comexampleothervalue", b"5"),
            ("content-type", b"application/json; charset=utf-8"),
        ],
        b"{\n  \"appinfoA\" : \"abc\"\n}\n",
    )
    .expect("valid");
    assert_eq!(event.time.as_deref(), Some("2018-04-05T03:56:24Z"));
    assert_eq!(
        event.datacontenttype.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        event.extensions.get("comexampleothervalue"),
        Some(&ExtensionValue::String("5".into()))
    );
    // Surrounding whitespace is not part of the JSON value.
    assert_eq!(
        event.data,
        Some(Data::Json(Bytes::from_static(
            b"{\n  \"appinfoA\" : \"abc\"\n}"
        )))
    );
}

#[test]
fn maps_bodies_to_data_kinds() {
    type Case = (Option<&'static [u8]>, &'static [u8], Option<Data>);
    let cases: [Case; 8] = [
        (None, b"", None),
        (Some(b"application/json"), b"", None),
        (
            None,
            b"\x00\x01",
            Some(Data::Binary(Bytes::from_static(b"\x00\x01"))),
        ),
        (
            Some(b"text/plain"),
            b"hi \xE2\x82\xAC",
            Some(Data::Text("hi €".into())),
        ),
        (
            Some(b"text/plain"),
            b"\xff",
            Some(Data::Binary(Bytes::from_static(b"\xff"))),
        ),
        (
            Some(b"application/xml"),
            b"<a/>",
            Some(Data::Text("<a/>".into())),
        ),
        (
            Some(b"text/plain; charset=iso-8859-1"),
            b"a",
            Some(Data::Binary(Bytes::from_static(b"a"))),
        ),
        (
            Some(b"application/octet-stream"),
            b"a",
            Some(Data::Binary(Bytes::from_static(b"a"))),
        ),
    ];
    for (content_type, body, data) in cases {
        let extra: Vec<Header<'_>> = content_type
            .map(|ct| ("content-type", ct))
            .into_iter()
            .collect();
        assert_eq!(
            decode(&extra, body).expect("valid").data,
            data,
            "{content_type:?}"
        );
    }
}

#[test]
fn rejects_invalid_json_bodies() {
    let error = decode(&[("content-type", b"application/json")], b"{not json").expect_err("bad");
    assert!(
        error.reason.starts_with("data is not valid JSON"),
        "{error}"
    );
}

#[test]
fn rejects_invalid_binary_messages() {
    let cases: [(&[Header<'_>], Option<&str>); 8] = [
        (&[("ce-id", b"2")], Some("id")),
        (
            &[("ce-datacontenttype", b"text/plain")],
            Some("datacontenttype"),
        ),
        (&[("ce-ext", b"%C0%A0")], Some("ext")),
        (&[("ce-ext", b"50%")], Some("ext")),
        (&[("ce-bad_name", b"x")], Some("bad_name")),
        (&[("ce-data", b"x")], Some("data")),
        (&[("ce-time", b"noon")], Some("time")),
        (
            &[("content-type", b"a"), ("content-type", b"b")],
            Some("datacontenttype"),
        ),
    ];
    for (extra, attribute) in cases {
        let error = decode(extra, b"").expect_err(&format!("{extra:?}"));
        assert_eq!(error.attribute.as_deref(), attribute, "{error}");
    }
    let mut wrong_version = required_and(&[]);
    wrong_version.insert("ce-specversion", HeaderValue::from_static("0.3"));
    let error = decode_binary(&wrong_version, Bytes::new()).expect_err("0.3");
    assert_eq!(error.attribute.as_deref(), Some("specversion"));
    let mut missing = required_and(&[]);
    missing.remove("ce-source");
    let error = decode_binary(&missing, Bytes::new()).expect_err("no source");
    assert_eq!(error.to_string(), "attribute `source`: missing");
}

#[test]
fn encodes_headers_and_body() {
    let mut event = CloudEvent::new("Euro € 😀", "/s", "t");
    event
        .extensions
        .insert("n".into(), ExtensionValue::Integer(5));
    event
        .extensions
        .insert("b".into(), ExtensionValue::Boolean(false));
    event.data = Some(Data::Json(Bytes::from_static(br#""I'm just a string""#)));
    let mut headers = headers(&[
        ("ce-stale", b"x"),
        ("content-type", b"text/html"),
        ("host", b"h"),
    ]);
    let body = encode_binary(&event, &mut headers);
    // The spec's example: a JSON string keeps its quotes in the body.
    assert_eq!(&body[..], br#""I'm just a string""#);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["ce-id"], "Euro%20%E2%82%AC%20%F0%9F%98%80");
    assert_eq!(headers["ce-specversion"], "1.0");
    assert_eq!(headers["ce-n"], "5");
    assert_eq!(headers["ce-b"], "false");
    assert_eq!(headers["host"], "h");
    assert!(!headers.contains_key("ce-stale"));
    assert!(!headers.contains_key("ce-datacontenttype"));
    assert_eq!(
        decode_binary(&headers, body).expect("valid").id,
        "Euro € 😀"
    );
}

#[test]
fn content_type_defaults_by_data_kind() {
    let mut event = CloudEvent::new("1", "/s", "t");
    let cases = [
        (
            Some(Data::Text("hi".into())),
            Some("text/plain; charset=utf-8"),
        ),
        (Some(Data::Binary(Bytes::from_static(b"\x00"))), None),
        (None, None),
    ];
    for (data, content_type) in cases {
        event.data = data;
        let mut headers = HeaderMap::new();
        encode_binary(&event, &mut headers);
        let sent = headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().expect("ASCII"));
        assert_eq!(sent, content_type);
    }
}

#[test]
fn structured_body_is_the_json_format() {
    let event = CloudEvent::new("1", "/s", "t");
    let body = Bytes::from(json::to_vec(&event));
    assert_eq!(json::decode_event(&body), Ok(event));
}

#[test]
fn text_media_types() {
    for text in [
        "text/plain",
        "TEXT/CSV; charset=\"UTF-8\"",
        "application/xml",
        "image/svg+xml",
        "application/yaml",
    ] {
        assert!(is_text_media_type(text), "{text}");
    }
    for other in [
        "application/octet-stream",
        "text/plain; charset=latin1",
        "application/json",
        "text",
    ] {
        assert!(!is_text_media_type(other), "{other}");
    }
}

#[test]
fn lenient_decoding_keeps_a_stray_percent() {
    use super::{PercentDecoding, decode_header_value_with};
    assert!(decode_header_value_with(b"100% sure", PercentDecoding::Strict).is_err());
    assert_eq!(
        decode_header_value_with(b"100% sure", PercentDecoding::Lenient).expect("lenient"),
        "100% sure"
    );
    assert_eq!(
        decode_header_value_with(b"a%20b%", PercentDecoding::Lenient).expect("lenient"),
        "a b%"
    );
    assert!(
        decode_header_value_with(b"%C0%A0", PercentDecoding::Lenient).is_err(),
        "still UTF-8 only"
    );
}
