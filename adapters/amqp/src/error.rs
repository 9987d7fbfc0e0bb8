//! This adapter's failures, named for what failed. They stay inside the crate: at the tower
//! boundary they become a `DeliveryError` (which the pipeline's sources understand), and
//! connection failures end up in logs and the readiness flag.

use std::time::Duration;

use lapin::types::{MAX_SHORT_STRING_LENGTH, ShortString};

/// Connecting, opening a channel, or declaring topology failed; the caller backs off and
/// starts over with a new connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// The broker or the socket refused a step.
    #[error("{step}: {source}")]
    Broker {
        step: String,
        #[source]
        source: lapin::Error,
    },
    /// A step got no answer: a silent network partition or a stuck broker.
    #[error("{step}: no answer within {timeout:?}")]
    TimedOut { step: String, timeout: Duration },
    /// A name that AMQP cannot carry (config validation normally catches this first).
    #[error(transparent)]
    Name(#[from] NameTooLong),
}

impl SetupError {
    /// Labels a lapin error with the step that failed, for `map_err`.
    pub(crate) fn at(step: impl Into<String>) -> impl FnOnce(lapin::Error) -> Self {
        let step = step.into();
        move |source| Self::Broker { step, source }
    }
}

/// A name or value longer than an AMQP short string (255 bytes).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} is {len} bytes; AMQP allows at most {MAX_SHORT_STRING_LENGTH}")]
pub(crate) struct NameTooLong {
    pub(crate) what: &'static str,
    pub(crate) len: usize,
}

/// `value` as a short string, or why it cannot be one. lapin's `From<&str>` panics on long
/// input, so every string from outside goes through here.
pub(crate) fn short_string(what: &'static str, value: &str) -> Result<ShortString, NameTooLong> {
    ShortString::try_new(value).map_err(|_| NameTooLong {
        what,
        len: value.len(),
    })
}

/// Why an event cannot be published as an AMQP message; retrying will not help, so the
/// outbound reports it as `DeliveryError::Rejected`.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum EncodeError {
    /// The rendered routing key holds `*` or `#`, which would act as wildcards wherever the
    /// key is used as a binding key (and usually means a placeholder value was not meant to
    /// become part of a key).
    #[error("routing key `{key}` contains the AMQP wildcard `{wildcard}`")]
    RoutingKeyWildcard { key: String, wildcard: char },
    /// A property or routing key over the 255 bytes AMQP allows.
    #[error(transparent)]
    TooLong(#[from] NameTooLong),
    /// The properties (in binary mode: every attribute, as a header) make a content header
    /// frame larger than the connection's `frame_max`. Unlike the body, the header cannot be
    /// split over frames, and the broker closes the whole connection over an oversized frame.
    #[error(
        "the event's attributes make a {size}-byte AMQP content header frame, more than the broker's frame_max of {frame_max} bytes (binary mode carries attributes as headers, which must fit in one frame); use smaller attributes or structured mode"
    )]
    HeaderTooLarge { size: usize, frame_max: u32 },
    /// lapin could not serialise the properties (not expected for values we build).
    #[error("the message properties cannot be encoded: {0}")]
    Properties(String),
}
