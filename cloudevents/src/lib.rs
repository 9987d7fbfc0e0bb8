//! The CloudEvents 1.0.2 envelope that every message becomes inside Switchyard, and its codecs.
//!
//! We own this model rather than using `cloudevents-sdk`: the SDK accepts invalid events (empty
//! required attributes, bad extension names), does no header percent-encoding, and has no binding
//! for the protocols we speak (see shared/crates.md). Codecs live one per format or binding:
//! [`json`] (event format and batch format), [`http`] (binary, structured and batched modes);
//! [`content`] holds what every binding shares (modes by content type, body to data).

mod attributes;
pub mod content;
pub mod http;
pub mod json;
mod model;
pub mod protobuf;
#[cfg(test)]
mod tests;
mod validate;

pub use attributes::AttributeSet;
pub use model::{CloudEvent, Data, ExtensionValue, SPEC_VERSION};
pub use validate::{DecodeError, validate_attribute_name};
