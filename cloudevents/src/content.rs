//! What a content type says about CloudEvents, and how a body becomes an event's data: the
//! rules every protocol binding shares (HTTP `Content-Type`, MQTT 5 Content Type, AMQP
//! `content_type`, NATS headers), so "structured mode" and "text data" mean the same
//! everywhere.

use bytes::Bytes;

use super::json::{decode_json_data, has_suffix, is_json_media_type};
use super::model::{CloudEvent, Data};
use super::validate::DecodeError;

/// The content type of a structured-mode message in the JSON event format.
pub const STRUCTURED_JSON: &str = "application/cloudevents+json";

/// The three ways a message can carry CloudEvents, told by its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Attributes in `ce-` headers, data in the body.
    Binary,
    /// One whole event in the body, in an event format.
    Structured,
    /// Zero or more events in the body, in a batch format.
    Batch,
}

/// Picks the mode from the `Content-Type` header (a `&HeaderValue` or a `&str`), matching the
/// spec's prefixes case-insensitively. Anything else, or no `Content-Type`, is binary mode.
///
/// Structured mode says nothing about the format: `application/cloudevents+avro` is structured
/// too, and callers that only speak JSON must check the suffix.
pub fn detect_mode(content_type: Option<impl AsRef<[u8]>>) -> Mode {
    let Some(content_type) = content_type else {
        return Mode::Binary;
    };
    let content_type = content_type.as_ref();
    let starts_with = |prefix: &[u8]| {
        content_type.len() >= prefix.len()
            && content_type[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    // The batch prefix extends the structured one, so it must be tested first.
    if starts_with(b"application/cloudevents-batch") {
        Mode::Batch
    } else if starts_with(b"application/cloudevents") {
        Mode::Structured
    } else {
        Mode::Binary
    }
}

/// Whether a structured or batched content type names the JSON format: its essence ends in
/// `+json` (`application/cloudevents+json`, `application/cloudevents-batch+json`),
/// case-insensitive, parameters allowed.
pub fn is_json_format(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    has_suffix(essence, "+json")
}

/// Whether a structured or batched content type names the protobuf format: its essence ends
/// in `+protobuf` (`application/cloudevents+protobuf`,
/// `application/cloudevents-batch+protobuf`), case-insensitive, parameters allowed.
pub fn is_protobuf_format(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    has_suffix(essence, "+protobuf")
}

/// Sent for JSON data without a `datacontenttype`: the JSON format implies JSON, while an
/// unlabelled body would be read as opaque bytes.
pub const DEFAULT_JSON_CONTENT_TYPE: &str = "application/json";
/// Sent for text data without a `datacontenttype`, so the body stays text.
pub const DEFAULT_TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The content type a binary-mode message of `event` carries: its `datacontenttype`, else
/// `application/json` for JSON data and `text/plain; charset=utf-8` for text; binary data
/// gets none, as the spec forbids inventing one.
pub fn content_type_of(event: &CloudEvent) -> Option<&str> {
    match (&event.datacontenttype, &event.data) {
        (Some(content_type), _) => Some(content_type),
        (None, Some(Data::Json(_))) => Some(DEFAULT_JSON_CONTENT_TYPE),
        (None, Some(Data::Text(_))) => Some(DEFAULT_TEXT_CONTENT_TYPE),
        (None, Some(Data::Binary(_)) | None) => None,
    }
}

/// The body of a binary-mode message of `event`: its data's bytes (text as UTF-8), empty
/// without data.
pub fn body_of(event: &CloudEvent) -> Bytes {
    match &event.data {
        None => Bytes::new(),
        Some(Data::Json(bytes) | Data::Binary(bytes)) => bytes.clone(),
        Some(Data::Text(text)) => Bytes::from(text.clone()),
    }
}

/// An event's data from a body of `content_type`: JSON for a JSON media type (which must then
/// be valid JSON), text for a [textual](is_text_media_type) one that is valid UTF-8, bytes
/// otherwise (and without a content type). An empty body is no data.
pub fn data_from_body(
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Option<Data>, DecodeError> {
    if body.is_empty() {
        return Ok(None);
    }
    let Some(content_type) = content_type else {
        return Ok(Some(Data::Binary(body)));
    };
    if is_json_media_type(Some(content_type)) {
        return decode_json_data(&body).map(|json| Some(Data::Json(json)));
    }
    if is_text_media_type(content_type)
        && let Ok(text) = std::str::from_utf8(&body)
    {
        return Ok(Some(Data::Text(text.to_owned())));
    }
    Ok(Some(Data::Binary(body)))
}

/// Whether data of this media type is carried as text (`Data::Text`) when a binary-mode body
/// is valid UTF-8: `text/*`, XML and YAML types (`application/xml`, `*/*+xml`,
/// `application/yaml`, `*/*+yaml`), `application/javascript` and
/// `application/x-www-form-urlencoded`, provided any `charset` parameter is UTF-8 or US-ASCII.
///
/// Other charsets stay binary so that their bytes reach the consumer untouched (in the JSON
/// format as `data_base64`), to be decoded by the charset the content type names. JSON types
/// are not text in this sense: they become `Data::Json`.
pub fn is_text_media_type(content_type: &str) -> bool {
    let (essence, parameters) = content_type.split_once(';').unwrap_or((content_type, ""));
    let Some((ty, subtype)) = essence.trim().split_once('/') else {
        return false;
    };
    let subtype_is = |name: &str| subtype.eq_ignore_ascii_case(name);
    let textual = ty.eq_ignore_ascii_case("text")
        || (ty.eq_ignore_ascii_case("application")
            && ["xml", "yaml", "javascript", "x-www-form-urlencoded"]
                .into_iter()
                .any(subtype_is))
        || ["+xml", "+yaml"]
            .into_iter()
            .any(|suffix| has_suffix(subtype, suffix));
    textual && charset_is_utf8(parameters)
}

fn charset_is_utf8(parameters: &str) -> bool {
    parameters
        .split(';')
        .filter_map(|parameter| parameter.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| {
            let value = value.trim().trim_matches('"');
            ["utf-8", "utf8", "us-ascii"]
                .into_iter()
                .any(|utf8| value.eq_ignore_ascii_case(utf8))
        })
}
