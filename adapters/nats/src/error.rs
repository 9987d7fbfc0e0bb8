//! What goes wrong, named: events the binding or the server cannot take (refused for good),
//! and the link being down (worth retrying). The outbound reports [`DeliveryError`]s, which
//! sources map to ack, retry or dead-letter.

use std::time::Duration;

use switchyard_core::DeliveryError;

/// How long a source waits before retrying a delivery refused while the server is away.
pub(crate) const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

/// An event the binding or the server cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("attribute `{0}` cannot be a NATS header (a header value cannot hold a line break)")]
    Header(String),
    #[error("no valid subject: {0}")]
    Subject(String),
    #[error("the message (payload and headers) exceeds the server's max_payload of {max} bytes")]
    TooLarge { max: usize },
}

/// The outbound `sink` cannot publish now; the source should retry.
pub(crate) fn unavailable(sink: &str, reason: impl Into<String>) -> DeliveryError {
    DeliveryError::Unavailable {
        sink: sink.to_owned(),
        reason: reason.into(),
        retry_after: Some(RETRY_AFTER_UNAVAILABLE),
    }
}

/// The outbound `sink` can never publish this event: its topic has no subject (a bad request
/// for a publisher), or the binding or the server cannot carry it.
pub(crate) fn rejected(sink: &str, error: &EncodeError) -> DeliveryError {
    let (sink, reason) = (sink.to_owned(), error.to_string());
    match error {
        EncodeError::Subject(_) => DeliveryError::InvalidTopic { sink, reason },
        EncodeError::TooLarge { .. } => DeliveryError::TooLarge { sink, reason },
        _ => DeliveryError::Rejected { sink, reason },
    }
}
