//! Unit tests of the JSON event and batch formats: the spec's examples and every rejection.

use bytes::Bytes;

use super::*;
use crate::{CloudEvent, Data, ExtensionValue};

fn decode(json: &str) -> Result<CloudEvent, DecodeError> {
    decode_event(&Bytes::copy_from_slice(json.as_bytes()))
}

fn reject(json: &str) -> String {
    match decode(json) {
        Ok(event) => panic!("accepted {json}: {event:?}"),
        Err(e) => e.to_string(),
    }
}

/// A minimal valid event with `extra` members appended.
fn with(extra: &str) -> String {
    format!(r#"{{"specversion":"1.0","id":"1","source":"/s","type":"t"{extra}}}"#)
}

#[test]
fn spec_example_with_json_data() {
    let json = r#"{
        "specversion" : "1.0",
        "type" : "com.example.someevent",
        "source" : "/mycontext",
        "subject": null,
        "id" : "C234-1234-1234",
        "time" : "2018-04-05T17:31:00Z",
        "comexampleextension1" : "value",
        "comexampleothervalue" : 5,
        "unsetextension": null,
        "datacontenttype" : "application/json",
        "data" : {
            "appinfoA" : "abc",
            "appinfoB" : 123,
            "appinfoC" : true
        }
    }"#;
    let event = decode(json).expect("valid");
    assert_eq!(event.id, "C234-1234-1234");
    assert_eq!(event.ty, "com.example.someevent");
    assert_eq!(event.subject, None);
    assert_eq!(event.time.as_deref(), Some("2018-04-05T17:31:00Z"));
    assert_eq!(
        event.extensions.get("comexampleextension1"),
        Some(&ExtensionValue::String("value".into()))
    );
    assert_eq!(
        event.extensions.get("comexampleothervalue"),
        Some(&ExtensionValue::Integer(5))
    );
    assert!(!event.extensions.contains_key("unsetextension"));
    let Some(Data::Json(raw)) = &event.data else {
        panic!("expected JSON data: {:?}", event.data)
    };
    assert!(
        raw.starts_with(b"{\n") && raw.ends_with(b"}"),
        "raw text kept as-is"
    );
    let reparsed: serde_json::Value = serde_json::from_slice(raw).expect("JSON");
    assert_eq!(reparsed["appinfoB"], 123);
}

#[test]
fn json_data_is_a_slice_of_the_input() {
    let input = Bytes::from(with(r#","data":{"a":[1,2]}"#));
    let event = decode_event(&input).expect("valid");
    let Some(Data::Json(raw)) = &event.data else {
        panic!("expected JSON data")
    };
    assert_eq!(&raw[..], br#"{"a":[1,2]}"#);
    let inside = input.as_ptr_range();
    assert!(
        inside.contains(&raw.as_ptr()),
        "zero-copy slice of the input"
    );
}

#[test]
fn spec_example_with_base64_data() {
    let json = with(
        r#","datacontenttype":"application/vnd.apache.thrift.binary","data_base64":"AAEC/w==""#,
    );
    let event = decode(&json).expect("valid");
    assert_eq!(
        event.data,
        Some(Data::Binary(Bytes::from_static(&[0, 1, 2, 255])))
    );
    let unpadded = with(r#","data_base64":"AAEC/w""#);
    assert_eq!(decode(&unpadded).expect("valid").data, event.data);
}

#[test]
fn spec_example_with_xml_text() {
    let event = decode(&with(
        r#","datacontenttype":"text/xml","data":"<much wow=\"xml\"/>""#,
    ))
    .expect("valid");
    assert_eq!(event.data, Some(Data::Text(r#"<much wow="xml"/>"#.into())));
}

#[test]
fn json_string_data_stays_a_json_string() {
    let event = decode(&with(r#","data":"I'm just a string""#)).expect("valid");
    assert_eq!(
        event.data,
        Some(Data::Json(Bytes::from_static(br#""I'm just a string""#)))
    );
    let event = decode(&with(
        r#","datacontenttype":"application/vnd.x+json","data":"{}""#,
    ))
    .expect("valid");
    assert_eq!(event.data, Some(Data::Json(Bytes::from_static(br#""{}""#))));
}

#[test]
fn null_data_is_a_payload_and_null_attributes_are_unset() {
    let event = decode(&with(r#","data":null,"time":null,"dataschema":null"#)).expect("valid");
    assert_eq!(event.data, Some(Data::Json(Bytes::from_static(b"null"))));
    assert_eq!(event.time, None);
    let event = decode(&with(r#","data_base64":null"#)).expect("valid");
    assert_eq!(event.data, None);
}

#[test]
fn escaped_member_names_and_values_are_understood() {
    let event = decode(r#"{"specversion":"1.0","\u0069d":"a\"b","source":"/s","type":"t"}"#)
        .expect("valid");
    assert_eq!(event.id, "a\"b");
}

#[test]
fn rejects_missing_required_attributes() {
    for name in ["id", "source", "type"] {
        let mut value: serde_json::Value = serde_json::from_str(&with("")).expect("JSON");
        value.as_object_mut().expect("object").remove(name);
        assert_eq!(
            reject(&value.to_string()),
            format!("attribute `{name}`: missing")
        );
        let json = with("").replace(&format!(r#""{name}":"#), &format!(r#""{name}":null,"x":"#));
        assert_eq!(reject(&json), format!("attribute `{name}`: missing"));
    }
}

#[test]
fn rejects_empty_required_attributes() {
    assert_eq!(
        reject(r#"{"specversion":"1.0","id":"","source":"/s","type":"t"}"#),
        "attribute `id`: must not be empty"
    );
    assert!(reject(r#"{"specversion":"1.0","id":"1","source":"","type":"t"}"#).contains("source"));
    assert!(reject(r#"{"specversion":"1.0","id":"1","source":"/s","type":""}"#).contains("type"));
}

#[test]
fn rejects_wrong_or_missing_specversion() {
    for json in [
        r#"{"id":"1","source":"/s","type":"t"}"#,
        r#"{"specversion":null,"id":"1","source":"/s","type":"t"}"#,
        r#"{"specversion":"0.3","id":"1","source":"/s","type":"t"}"#,
        r#"{"specversion":1.0,"id":"1","source":"/s","type":"t"}"#,
    ] {
        assert!(
            reject(json).starts_with("attribute `specversion`"),
            "{json}"
        );
    }
}

#[test]
fn rejects_duplicate_members() {
    assert_eq!(
        reject(&with(r#","id":"2""#)),
        "attribute `id`: appears more than once"
    );
    assert!(reject(&with(r#","ext":1,"ext":2"#)).contains("more than once"));
    assert!(reject(&with(r#","ext":null,"ext":2"#)).contains("more than once"));
    assert!(reject(&with(r#","time":null,"time":null"#)).contains("more than once"));
    assert!(reject(&with(r#","data":1,"data":2"#)).contains("more than once"));
}

#[test]
fn rejects_bad_extension_names() {
    for name in ["Ext", "ext-1", "ext_1", "abcdefghijklmnopqrstu", ""] {
        let error = decode(&with(&format!(r#","{name}":"v""#))).expect_err(name);
        assert_eq!(error.attribute.as_deref(), Some(name));
    }
}

#[test]
fn rejects_bad_extension_values() {
    for value in [
        "{}",
        "[1]",
        "1.5",
        "1e3",
        "2147483648",
        "-2147483649",
        "18446744073709551616",
    ] {
        let error = decode(&with(&format!(r#","ext":{value}"#))).expect_err(value);
        assert_eq!(error.attribute.as_deref(), Some("ext"), "{value}");
    }
    let event =
        decode(&with(r#","min":-2147483648,"max":2147483647,"flag":false"#)).expect("valid");
    assert_eq!(event.extensions["min"], ExtensionValue::Integer(i32::MIN));
    assert_eq!(event.extensions["max"], ExtensionValue::Integer(i32::MAX));
    assert_eq!(event.extensions["flag"], ExtensionValue::Boolean(false));
}

#[test]
fn rejects_non_string_core_attributes() {
    assert_eq!(
        reject(&with(r#","subject":5"#)),
        "attribute `subject`: must be a string"
    );
    assert!(reject(&with(r#","data_base64":[]"#)).contains("data_base64"));
}

#[test]
fn rejects_data_and_data_base64_together() {
    assert!(reject(&with(r#","data":1,"data_base64":"AA==""#)).contains("must not both"));
}

#[test]
fn rejects_invalid_base64() {
    for bad in ["A", "AA=A", "AA AA", "AA-_"] {
        let error = decode(&with(&format!(r#","data_base64":"{bad}""#))).expect_err(bad);
        assert_eq!(error.attribute.as_deref(), Some("data_base64"));
    }
}

#[test]
fn rejects_non_string_data_for_text_content_types() {
    for data in ["1", "{}", "null", "[\"a\"]"] {
        let json = with(&format!(r#","datacontenttype":"text/plain","data":{data}"#));
        assert!(reject(&json).contains("must be a JSON string"), "{data}");
    }
}

#[test]
fn rejects_what_is_not_one_json_object() {
    for json in ["[]", "\"event\"", "1", "null", ""] {
        decode(json).expect_err(json);
    }
    assert!(reject("{\"id\":").starts_with("malformed JSON"));
    assert!(reject(&format!("{} {{}}", with(""))).starts_with("malformed JSON"));
    assert!(reject(&with(",")).starts_with("malformed JSON"));
}

#[test]
fn rejects_invalid_attribute_values() {
    assert!(reject(&with(r#","time":"yesterday""#)).starts_with("attribute `time`"));
    assert!(reject(&with(r#","ext":"a\u0007b""#)).starts_with("attribute `ext`"));
    assert!(reject(&with(r#","dataschema":"no-scheme""#)).starts_with("attribute `dataschema`"));
}

#[test]
fn rejects_data_nested_too_deeply() {
    let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    decode(&with(&format!(r#","data":{}"#, deep(MAX_DATA_NESTING)))).expect("at the limit");
    assert!(reject(&with(&format!(r#","data":{}"#, deep(200)))).contains("nested"));
    // Brackets inside strings are not nesting.
    let quoted = format!(r#","data":["{}"]"#, "[".repeat(300));
    decode(&with(&quoted)).expect("brackets in a string");
}

#[test]
fn is_json_media_type_follows_the_format_rules() {
    for json in [
        None,
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("text/json"),
        Some("application/cloudevents+json"),
        Some("application/vnd.foo+JSON ; x=y"),
    ] {
        assert!(is_json_media_type(json), "{json:?}");
    }
    for other in [
        Some("text/plain"),
        Some("application/jsonx"),
        Some("application/json-seq"),
        Some("json"),
        Some(""),
        Some("application/x; format=json"),
    ] {
        assert!(!is_json_media_type(other), "{other:?}");
    }
}

#[test]
fn encodes_attributes_extensions_and_data_kinds() {
    let mut event = CloudEvent::new("1", "/s", "t");
    event.subject = Some("line\nbreak \"quoted\" \u{1} é".into());
    let ext = [
        ("count", ExtensionValue::Integer(-7)),
        ("flag", ExtensionValue::Boolean(true)),
        ("name", ExtensionValue::String("x".into())),
    ];
    event.extensions.extend(ext.map(|(k, v)| (k.to_owned(), v)));
    event.data = Some(Data::Binary(Bytes::from_static(&[0, 1, 2, 255])));
    let text = String::from_utf8(to_vec(&event)).expect("UTF-8");
    assert_eq!(
        text,
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"line\nbreak \"quoted\" \u0001 é","count":-7,"flag":true,"name":"x","data_base64":"AAEC/w=="}"#
    );
    event.data = Some(Data::Text("<a/>".into()));
    event.datacontenttype = Some("text/xml".into());
    let text = String::from_utf8(to_vec(&event)).expect("UTF-8");
    assert!(
        text.contains(r#""datacontenttype":"text/xml","subject""#),
        "{text}"
    );
    assert!(text.ends_with(r#""name":"x","data":"<a/>"}"#), "{text}");
    event.data = Some(Data::Json(Bytes::from_static(b"[1, 2]")));
    event.datacontenttype = None;
    assert!(to_vec(&event).ends_with(br#""data":[1, 2]}"#));
}

#[test]
fn batch_round_trip_and_empty_batch() {
    let empty = Bytes::from_static(b" [ ] ");
    assert_eq!(decode_batch(&empty), Ok(Vec::new()));
    let events = vec![
        CloudEvent::new("1", "/s", "t"),
        CloudEvent::new("2", "/s", "t"),
    ];
    let mut out = Vec::new();
    encode_batch(&events, &mut out);
    assert_eq!(decode_batch(&Bytes::from(out)), Ok(events));
    let mut out = Vec::new();
    encode_batch(&[], &mut out);
    assert_eq!(out, b"[]");
}

#[test]
fn batch_errors_name_the_event() {
    let good = with("");
    let bad = r#"{"specversion":"1.0","source":"/s","type":"t"}"#;
    let batch = format!("[{good},{good},{good},{bad}]");
    let error = decode_batch(&Bytes::from(batch)).expect_err("invalid");
    assert_eq!(error.to_string(), "event 3: attribute `id`: missing");
    let error = decode_batch(&Bytes::from(format!("[{good},7]"))).expect_err("not an object");
    assert!(error.to_string().starts_with("event 1: "), "{error}");
    let error = decode_batch(&Bytes::from(good.clone())).expect_err("not an array");
    assert!(!error.to_string().starts_with("event"), "{error}");
    let error = decode_batch(&Bytes::from(format!("[{good}] x"))).expect_err("trailing");
    assert!(error.to_string().starts_with("malformed JSON"), "{error}");
}
