//! The protobuf event format (`application/cloudevents+protobuf`) and its batch format
//! (`application/cloudevents-batch+protobuf`), on the spec's own schema
//! (`proto/io/cloudevents/v1/cloudevents.proto`, generated into [`pb`]).
//!
//! Types: protobuf carries every CloudEvents type, and so does the model's
//! [`ExtensionValue`](crate::ExtensionValue): an extension keeps its type from protobuf to
//! protobuf (timestamps normalised to UTC), and formats without the type (JSON, headers) see
//! its canonical string. The optional core attributes leave with their own types:
//! `dataschema` as `ce_uri`, `time` as `ce_timestamp` (normalised to UTC).
//!
//! Data:
//! - `text_data` is JSON data (`Data::Json`, validated) when `datacontenttype` is a JSON type,
//!   text otherwise; JSON data leaves as `text_data`, labelled `application/json` when it has
//!   no `datacontenttype` (the JSON format implies that label; protobuf does not).
//! - `binary_data` is bytes both ways.
//! - `proto_data` (a `google.protobuf.Any`) arrives as bytes labelled `application/protobuf`
//!   unless labelled otherwise, its type URL in `dataschema` unless that is set (a URL without
//!   a scheme gets `https://`, which `Any` implies); bytes labelled `application/protobuf` or
//!   `application/x-protobuf` leave as `proto_data`, with `dataschema` as the type URL.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

/// The generated messages of package `io.cloudevents.v1`.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/io.cloudevents.v1.rs"));
}

pub use decode::{decode_batch, decode_event, from_proto};
pub use encode::{encode_batch, encode_event, to_proto};

/// The content type of a structured-mode message in the protobuf event format.
pub const STRUCTURED_PROTOBUF: &str = "application/cloudevents+protobuf";
/// The content type of a batch in the protobuf batch format.
pub const BATCH_PROTOBUF: &str = "application/cloudevents-batch+protobuf";
/// The label `proto_data` implies, and the labels that send bytes as `proto_data`.
pub const PROTOBUF_DATA: &str = "application/protobuf";
const PROTOBUF_DATA_ALIAS: &str = "application/x-protobuf";

/// Whether data of `content_type` is a protobuf message (sent as `proto_data`).
fn is_protobuf_data(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(PROTOBUF_DATA) || essence.eq_ignore_ascii_case(PROTOBUF_DATA_ALIAS)
}
