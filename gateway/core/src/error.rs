//! The ways delivering an event can fail, as seen by the source that must ack or nack it.
//! Each inbound maps these onto its protocol (HTTP status, MQTT reason code, AMQP nack).

use std::time::Duration;

/// The error type at tower boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an event was not delivered. Inbounds find it by walking an error's `source()` chain
/// ([`DeliveryError::find`]).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No route matched the event: counted, logged, and reported to the source.
    #[error("no route matches topic `{topic}` from inbound `{inbound}`")]
    NoRoute { inbound: String, topic: String },
    /// The pipeline is at its concurrency limit; the source should retry later.
    #[error("overloaded: too many events in flight")]
    Overloaded,
    /// A required sink is down; the source should retry after the given delay.
    #[error("sink `{sink}` is unavailable: {reason}")]
    Unavailable {
        sink: String,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// A sink did not confirm within its timeout.
    #[error("sink `{sink}` did not confirm within {timeout:?}")]
    Timeout { sink: String, timeout: Duration },
    /// A sink refused the event for good; retrying will not help.
    #[error("sink `{sink}` rejected the event: {reason}")]
    Rejected { sink: String, reason: String },
    /// The sink's protocol cannot address the event's topic (a level a NATS subject cannot
    /// hold): refused for good, and for a publisher a bad request naming the level.
    #[error("sink `{sink}` cannot publish to this topic: {reason}")]
    InvalidTopic { sink: String, reason: String },
    /// Larger than the sink's peer takes (a NATS server's `max_payload`): refused for good, and
    /// for a publisher 413.
    #[error("sink `{sink}` cannot take an event this large: {reason}")]
    TooLarge { sink: String, reason: String },
    /// The hub could not take the event.
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
    /// The publisher may not publish to this topic (its principal's permissions): refused
    /// for good; each listener answers the denial as it answers every refusal (401 or 403,
    /// close 1008, UNAUTHENTICATED or PERMISSION_DENIED).
    #[error("{0}")]
    Forbidden(crate::auth::Denial),
    /// The publisher is over its rate limit: retry after the given delay (429, close 1013,
    /// RESOURCE_EXHAUSTED).
    #[error("`{principal}` is over its publish rate limit")]
    RateLimited {
        principal: String,
        retry_after: Duration,
    },
    /// A request (`POST /rpc/..`) reached no single reply-capable sink: none, or more than
    /// one, on the routes it matched. For the caller a bad request naming the routes.
    #[error("{reason}")]
    NoReplier { reason: String },
    /// The sink's peer answered a request with a reply that cannot be used (too large,
    /// undecodable): for the caller a bad gateway.
    #[error("sink `{sink}` got an unusable reply: {reason}")]
    BadReply { sink: String, reason: String },
    /// The gateway is shutting down and accepts no new work.
    #[error("shutting down")]
    ShuttingDown,
}

impl DeliveryError {
    /// Finds a `DeliveryError` in `err` or anywhere in its `source()` chain.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a DeliveryError> {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<DeliveryError>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}
