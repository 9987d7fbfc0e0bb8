//! Request-reply: an event that asks for an answer carries a [`ReplyTo`] in its delivery
//! context (never serialized out). The route it takes ends in exactly one *reply-capable* sink
//! (a webhook, whose response is the reply; an AMQP or MQTT 5 outbound, which publishes with
//! a reply address and a correlation id and waits on its [`Pending`] table); that sink hands
//! the reply to the `ReplyTo` and only then confirms. The caller (`POST /rpc/..`) waits on the
//! other end, bounded by the request's deadline.
//!
//! A reply is never delivered to the wrong caller: each attempt of each request gets a fresh,
//! random correlation id, registered for as long as its sink waits and no longer, so a late
//! reply, or one for an attempt that was retried, matches nothing and is dropped and counted.

mod config;
mod pending;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cloudevent::{CloudEvent, ExtensionValue};

pub use config::RpcConfig;
pub use pending::{Pending, Registration};

/// The CloudEvents correlation extension: on a request, its own `id` (unless it names one
/// already); on the reply, the request's `id`, so a service can log the pair.
pub const CORRELATION_EXTENSION: &str = "correlationid";

/// Largest reply a sink takes from its peer, in bytes; a larger one fails the request (502)
/// rather than being buffered.
pub const MAX_REPLY_BYTES: usize = 4 << 20;

/// A reply as the replying sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The peer answered with a CloudEvent (structured or binary mode).
    Event(CloudEvent),
    /// Any other answer: its body and content type, passed through.
    Body {
        content_type: Option<String>,
        body: Bytes,
    },
}

impl Reply {
    /// The reply as the caller receives it: a CloudEvent reply gets the correlation extension
    /// naming the request's `id`.
    pub fn correlated(mut self, request_id: &str) -> Self {
        if let Self::Event(event) = &mut self {
            event.extensions.insert(
                CORRELATION_EXTENSION.into(),
                ExtensionValue::String(request_id.to_owned()),
            );
        }
        self
    }
}

/// Marks `event` as a request: the correlation extension is set to its `id` unless present.
pub fn mark_request(event: &mut CloudEvent) {
    if !event.extensions.contains_key(CORRELATION_EXTENSION) {
        event.extensions.insert(
            CORRELATION_EXTENSION.into(),
            ExtensionValue::String(event.id.clone()),
        );
    }
}

/// Where a request's reply goes. Clones (the event's copies on its way through the router)
/// share one slot; the first reply wins.
#[derive(Clone)]
pub struct ReplyTo {
    slot: Arc<Slot>,
}

struct Slot {
    deadline: Instant,
    sender: Mutex<Option<oneshot::Sender<Reply>>>,
}

impl std::fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyTo")
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

impl ReplyTo {
    /// A reply slot for a request that may wait until `deadline`, and the caller's end.
    pub fn channel(deadline: Instant) -> (Self, oneshot::Receiver<Reply>) {
        let (sender, receiver) = oneshot::channel();
        let slot = Slot {
            deadline,
            sender: Mutex::new(Some(sender)),
        };
        (
            Self {
                slot: Arc::new(slot),
            },
            receiver,
        )
    }

    /// When the caller stops waiting.
    pub fn deadline(&self) -> Instant {
        self.slot.deadline
    }

    /// How long until the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.slot.deadline.saturating_duration_since(Instant::now())
    }

    /// Hands the reply to the caller; `false` if it was answered already or stopped waiting.
    pub fn send(&self, reply: Reply) -> bool {
        let sender = self
            .slot
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        sender.is_some_and(|s| s.send(reply).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reply_wins() {
        let (reply_to, receiver) = ReplyTo::channel(Instant::now() + Duration::from_secs(5));
        let copy = reply_to.clone();
        let body = |b: &'static str| Reply::Body {
            content_type: None,
            body: Bytes::from_static(b.as_bytes()),
        };
        assert!(copy.send(body("one")));
        assert!(!reply_to.send(body("two")), "a second reply is refused");
        assert_eq!(receiver.await.expect("answered"), body("one"));
    }

    #[test]
    fn a_request_names_itself_and_its_reply_names_the_request() {
        let mut request = CloudEvent::new("req-1", "/s", "t");
        mark_request(&mut request);
        let value = |e: &CloudEvent| e.extensions.get(CORRELATION_EXTENSION).cloned();
        assert_eq!(
            value(&request),
            Some(ExtensionValue::String("req-1".into()))
        );
        let Reply::Event(reply) =
            Reply::Event(CloudEvent::new("rep-1", "/s", "t")).correlated("req-1")
        else {
            unreachable!("an event stays an event")
        };
        assert_eq!(value(&reply), Some(ExtensionValue::String("req-1".into())));
    }
}
