//! The event as it travels through the pipeline: a CloudEvent plus delivery context that never
//! leaves the process.

use std::sync::Arc;

use crate::cloudevent::CloudEvent;
use crate::principal::Principal;
use crate::rpc::ReplyTo;

/// A CloudEvent with the context the pipeline needs to route and account for it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The CloudEvent itself; what sinks encode.
    pub cloud: CloudEvent,
    /// Where the event came from; never rewritten.
    pub origin: Origin,
    /// The topic sinks deliver to. Starts as the origin topic; a route's topic template may
    /// rewrite it on the copy it hands to its sinks.
    pub topic: Arc<str>,
    /// Set on a request (`POST /rpc/..`): where its one reply-capable sink hands the reply.
    pub reply: Option<ReplyTo>,
}

/// Where an event entered Switchyard.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The configured inbound name (`http` for the HTTP family's publish endpoint).
    pub inbound: Arc<str>,
    /// The protocol-level address it arrived on: HTTP path topic, MQTT topic, AMQP queue.
    pub topic: Arc<str>,
    /// Who published it, on a listener with authentication; `None` for broker inbounds
    /// (trusted by configuration) and for listeners without `auth:`. The pipeline checks its
    /// publish permission.
    pub principal: Option<Arc<Principal>>,
}

impl Event {
    /// An event that entered through `inbound` on `topic`.
    pub fn new(
        cloud: CloudEvent,
        inbound: impl Into<Arc<str>>,
        topic: impl Into<Arc<str>>,
    ) -> Self {
        let topic = topic.into();
        Self {
            cloud,
            origin: Origin {
                inbound: inbound.into(),
                topic: topic.clone(),
                principal: None,
            },
            topic,
            reply: None,
        }
    }

    /// The same event as a request whose reply goes to `reply`.
    pub fn asking(mut self, reply: ReplyTo) -> Self {
        self.reply = Some(reply);
        self
    }

    /// The same event, published by `principal`.
    pub fn by(mut self, principal: Option<Arc<Principal>>) -> Self {
        self.origin.principal = principal;
        self
    }
}
