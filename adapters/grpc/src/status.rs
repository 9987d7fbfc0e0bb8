//! Errors as gRPC statuses: the same decisions as the HTTP family's status codes, so a client
//! retries, fixes its request or gives up for the same reasons on either protocol.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use switchyard_core::cloudevent::DecodeError;
use switchyard_core::topic::TopicError;
use switchyard_core::{BoxError, DeliveryError};

/// Metadata naming the CloudEvents attribute at fault in an INVALID_ARGUMENT.
pub const ATTRIBUTE: &str = "attribute";
/// Metadata with the seconds to wait before retrying an UNAVAILABLE, as HTTP's `Retry-After`.
pub const RETRY_AFTER: &str = "retry-after";
/// Metadata on a failed batch: how many of its events were delivered before the failure.
pub const ACCEPTED_COUNT: &str = "accepted-count";

/// An invalid event: INVALID_ARGUMENT, with the attribute named in the message and in
/// metadata `attribute`.
pub fn invalid_event(err: DecodeError) -> Status {
    let mut status = Status::invalid_argument(format!("invalid CloudEvent: {err}"));
    if let Some(attribute) = err.attribute
        && let Ok(value) = MetadataValue::try_from(attribute.as_str())
    {
        status.metadata_mut().insert(ATTRIBUTE, value);
    }
    status
}

pub fn invalid_topic(err: TopicError) -> Status {
    Status::invalid_argument(format!("invalid topic: {err}"))
}

/// Classifies a pipeline error by the [`DeliveryError`] in its source chain.
pub fn from_delivery(err: &BoxError) -> Status {
    let message = err.to_string();
    match DeliveryError::find(err.as_ref()) {
        Some(DeliveryError::NoRoute { .. }) => Status::not_found(message),
        Some(DeliveryError::Forbidden(denial)) => crate::caller::denied(denial),
        Some(DeliveryError::RateLimited { retry_after, .. }) => {
            let status = Status::resource_exhausted(format!("rate_limited: {message}"));
            with_retry_after(status, *retry_after)
        }
        Some(DeliveryError::Rejected { .. } | DeliveryError::NoReplier { .. }) => {
            Status::failed_precondition(message)
        }
        Some(DeliveryError::BadReply { .. }) => unavailable(message, Duration::from_secs(1)),
        Some(DeliveryError::InvalidTopic { .. }) => Status::invalid_argument(message),
        Some(DeliveryError::TooLarge { .. }) => Status::resource_exhausted(message),
        Some(DeliveryError::Timeout { .. }) => Status::deadline_exceeded(message),
        Some(DeliveryError::Overloaded | DeliveryError::ShuttingDown) => {
            unavailable(message, Duration::from_secs(1))
        }
        Some(DeliveryError::Unavailable { retry_after, .. }) => {
            unavailable(message, retry_after.unwrap_or(Duration::from_secs(5)))
        }
        Some(DeliveryError::Hub(_)) => unavailable(message, Duration::from_secs(5)),
        // A sink failed in a way it did not classify: HTTP's 502, which gRPC reads as
        // UNAVAILABLE.
        None => unavailable(message, Duration::from_secs(5)),
    }
}

/// UNAVAILABLE with metadata `retry-after` in whole seconds (at least 1).
pub fn unavailable(message: impl Into<String>, after: Duration) -> Status {
    with_retry_after(Status::unavailable(message), after)
}

/// `status` with metadata `retry-after` in whole seconds (at least 1).
fn with_retry_after(mut status: Status, after: Duration) -> Status {
    status
        .metadata_mut()
        .insert(RETRY_AFTER, MetadataValue::from(after.as_secs().max(1)));
    status
}

/// Adds how many events of a batch were delivered before `status` stopped it.
pub fn with_accepted(mut status: Status, accepted: usize) -> Status {
    if accepted > 0 {
        status
            .metadata_mut()
            .insert(ACCEPTED_COUNT, MetadataValue::from(accepted as u64));
    }
    status
}

/// Whether a status a backend answered may heal on a retry (the gRPC outbound's rule):
/// UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED; every other code is for good.
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted
    )
}
