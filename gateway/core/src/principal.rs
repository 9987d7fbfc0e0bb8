//! Who sent an event or opened a subscription, and what they may do: the result of
//! authentication, carried in the event's delivery context and never serialized out.

use std::fmt;
use std::sync::Arc;

use crate::auth::Denial;
use crate::rate::Bucket;
use crate::streams::{StreamGuard, StreamSlots};
use crate::topic::TopicFilter;

/// An authenticated (or anonymous) party and its permissions.
#[derive(Clone)]
pub struct Principal {
    /// The JWT's `sub`, the API key's name, or `anonymous`.
    pub id: Arc<str>,
    /// How it authenticated: `jwt`, `api_key`, `anonymous`.
    pub method: &'static str,
    /// Topics it may publish to: a topic matching one of these.
    pub publish: Vec<TopicFilter>,
    /// Filters it may subscribe with: a filter contained in one of these.
    pub subscribe: Vec<TopicFilter>,
    /// Its publish rate limit (`auth.rate_limit`), shared by all its connections.
    pub rate: Option<Arc<Bucket>>,
    /// Its streaming subscriptions (`auth.max_streams_per_principal`), shared likewise.
    pub streams: Option<Arc<StreamSlots>>,
}

/// The reason of a refusal over `auth.max_streams_per_principal`: a limit, not a permission
/// (429, WebSocket close 1013, gRPC RESOURCE_EXHAUSTED).
pub const TOO_MANY_STREAMS: &str = "too_many_streams";

/// The method of the principal callers without credentials share.
pub const ANONYMOUS: &str = "anonymous";

impl Principal {
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|allowed| allowed.matches(topic))
    }

    pub fn may_subscribe(&self, filter: &TopicFilter) -> bool {
        self.subscribe
            .iter()
            .any(|allowed| allowed.contains(filter))
    }

    /// A place for one more streaming subscription (held while the stream is open), or the
    /// (counted) `too_many_streams` denial; `None` without a limit.
    pub fn open_stream(&self) -> Result<Option<StreamGuard>, Denial> {
        let Some(slots) = &self.streams else {
            return Ok(None);
        };
        slots.open().map(Some).ok_or_else(|| {
            Denial::new(
                TOO_MANY_STREAMS,
                format!("`{}` holds {} streams, its limit", self.id, slots.max()),
            )
            .counted()
        })
    }

    /// Publishing to `topic` allowed, or the (counted) denial.
    pub fn check_publish(&self, topic: &str) -> Result<(), Denial> {
        if self.may_publish(topic) {
            return Ok(());
        }
        Err(self.refusal("publish_denied", format!("publish to `{topic}`")))
    }

    /// Subscribing with `filter` allowed, or the (counted) denial.
    pub fn check_subscribe(&self, filter: &TopicFilter) -> Result<(), Denial> {
        if self.may_subscribe(filter) {
            return Ok(());
        }
        Err(self.refusal("subscribe_denied", format!("subscribe to `{filter}`")))
    }

    /// `reason` for a known principal; a caller without credentials is told to present some
    /// (`missing_credentials`, 401), since credentials may well allow it.
    fn refusal(&self, reason: &'static str, what: String) -> Denial {
        let denial = if self.method == ANONYMOUS {
            Denial::new("missing_credentials", format!("{what} needs credentials"))
        } else {
            Denial::new(reason, format!("`{}` may not {what}", self.id))
        };
        denial.counted()
    }
}

/// The id and method only: permissions can be long, and the id is what logs need.
impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("id", &self.id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}
