//! Replies to requests (`POST /rpc`) published by an MQTT 5 outbound: each request carries the
//! outbound's Response Topic and a fresh Correlation Data per attempt; a message on the
//! Response Topic goes to the attempt that waits for it ([`Pending`]). The Response Topic is
//! subscribed with the first request of each connection (the session is clean), queued before
//! that request's PUBLISH, so the broker has the subscription before the service can answer;
//! an outbound that carries no requests subscribes to nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use switchyard_core::DeliveryError;
use switchyard_core::rpc::{MAX_REPLY_BYTES, Pending, Registration};

use crate::connection::{Client, Message};
use crate::convert::{self, Encoded, MqttMessage};

#[derive(Debug)]
pub(crate) struct Replies {
    outbound: String,
    topic: String,
    pending: Arc<Pending>,
    /// The Response Topic is subscribed on the current connection.
    subscribed: AtomicBool,
}

impl Replies {
    pub(crate) fn new(outbound: &str, topic: String, capacity: usize) -> Self {
        Self {
            outbound: outbound.to_owned(),
            topic,
            pending: Pending::new(outbound, capacity),
            subscribed: AtomicBool::new(false),
        }
    }

    /// Registers one attempt of a request and names the Response Topic on its message;
    /// subscribes to it first if this connection has not yet.
    pub(crate) fn ask(
        &self,
        client: &Client,
        message: &mut Encoded,
    ) -> Result<Registration, DeliveryError> {
        let registration = self.pending.register()?;
        if !self.subscribed.swap(true, Ordering::AcqRel)
            && client
                .try_subscribe(std::slice::from_ref(&self.topic), 1)
                .is_err()
        {
            self.subscribed.store(false, Ordering::Release);
            return Err(DeliveryError::Unavailable {
                sink: self.outbound.clone(),
                reason: "cannot queue the reply subscription".into(),
                retry_after: Some(std::time::Duration::from_secs(1)),
            });
        }
        message.response_topic = Some(self.topic.clone());
        message.correlation_data = Some(registration.id().to_owned().into());
        Ok(registration)
    }

    /// A new connection: the next request subscribes again (the session is clean).
    pub(crate) fn reconnected(&self) {
        self.subscribed.store(false, Ordering::Release);
    }

    /// A message on the Response Topic: handed to the attempt it names.
    pub(crate) fn receive(&self, message: &Message) {
        let Some(correlation) = message.correlation_data() else {
            self.pending.malformed("a reply without Correlation Data");
            return;
        };
        let Ok(correlation) = std::str::from_utf8(correlation) else {
            self.pending
                .malformed("Correlation Data that is not ours (not UTF-8)");
            return;
        };
        let answer = if message.payload().len() > MAX_REPLY_BYTES {
            Err(format!("the reply is over {MAX_REPLY_BYTES} bytes"))
        } else {
            convert::decode_reply(MqttMessage {
                topic: &self.topic,
                payload: message.payload(),
                content_type: message.content_type(),
                user_properties: message.user_properties(),
            })
        };
        self.pending.answer(correlation, answer);
    }
}
