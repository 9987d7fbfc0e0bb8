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

pub use super::content::{Mode, detect_mode, is_text_media_type};
pub use binary::{decode_binary, decode_binary_with, encode_binary};
pub use header_value::{
    PercentDecoding, decode_header_value, decode_header_value_with, encode_header_value,
};

/// `Content-Type` of a structured-mode message in the JSON event format.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// `Content-Type` of a batched-mode message in the JSON batch format.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// Whether `headers` carry all four required `ce-` headers: the spec's heuristic for telling a
/// binary-mode CloudEvent from ordinary HTTP traffic.
pub fn has_binary_headers(headers: &http::HeaderMap) -> bool {
    ["ce-id", "ce-source", "ce-specversion", "ce-type"]
        .into_iter()
        .all(|name| headers.contains_key(name))
}
