//! The CloudEvents HTTP protocol binding: which mode a message uses, and the binary mode, where
//! attributes travel as `ce-` headers and the body is the data.
//!
//! Structured and batched mode bodies are plain JSON format documents: decode them with
//! [`super::json::decode_event`] and [`super::json::decode_batch`] and label them with
//! [`STRUCTURED_CONTENT_TYPE`] and [`BATCH_CONTENT_TYPE`].

mod binary;
mod header_value;
#[cfg(test)]
mod tests;

pub use binary::{
    body_to_data as data_from_body, decode_binary, decode_binary_with, encode_binary,
};
pub use header_value::{
    PercentDecoding, decode_header_value, decode_header_value_with, encode_header_value,
};

use super::json::has_suffix;

/// `Content-Type` of a structured-mode message in the JSON event format.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// `Content-Type` of a batched-mode message in the JSON batch format.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// The three ways an HTTP message can carry CloudEvents.
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

/// Whether `headers` carry all four required `ce-` headers: the spec's heuristic for telling a
/// binary-mode CloudEvent from ordinary HTTP traffic.
pub fn has_binary_headers(headers: &http::HeaderMap) -> bool {
    ["ce-id", "ce-source", "ce-specversion", "ce-type"]
        .into_iter()
        .all(|name| headers.contains_key(name))
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
