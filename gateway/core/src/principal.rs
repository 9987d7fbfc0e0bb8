//! Who sent an event or opened a subscription, and what they may do: the result of
//! authentication, carried in the event's delivery context and never serialized out.

use std::fmt;
use std::sync::Arc;

use crate::rate::Bucket;
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
}

impl Principal {
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|allowed| allowed.matches(topic))
    }

    pub fn may_subscribe(&self, filter: &TopicFilter) -> bool {
        self.subscribe
            .iter()
            .any(|allowed| allowed.contains(filter))
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
