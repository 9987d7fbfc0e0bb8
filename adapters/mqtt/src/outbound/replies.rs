//! Replies to requests (`POST /rpc`) published by an MQTT 5 outbound: each request carries the
//! outbound's Response Topic (subscribed on every connection) and a fresh Correlation Data per
//! attempt; a message on the Response Topic goes to the attempt that waits for it
//! ([`Pending`]).

use std::sync::Arc;

use switchyard_core::DeliveryError;
use switchyard_core::rpc::{MAX_REPLY_BYTES, Pending, Registration};

use crate::connection::{Client, Message};
use crate::convert::{self, Encoded, MqttMessage};

#[derive(Debug)]
pub(crate) struct Replies {
    topic: String,
    pending: Arc<Pending>,
}

impl Replies {
    pub(crate) fn new(outbound: &str, topic: String, capacity: usize) -> Self {
        Self {
            topic,
            pending: Pending::new(outbound, capacity),
        }
    }

    /// Registers one attempt of a request and names the Response Topic on its message.
    pub(crate) fn ask(&self, message: &mut Encoded) -> Result<Registration, DeliveryError> {
        let registration = self.pending.register()?;
        message.response_topic = Some(self.topic.clone());
        message.correlation_data = Some(registration.id().to_owned().into());
        Ok(registration)
    }

    /// Subscribes to the Response Topic (after every CONNACK: the session is clean).
    pub(crate) fn subscribe(&self, client: &Client) {
        if client
            .try_subscribe(std::slice::from_ref(&self.topic), 1)
            .is_err()
        {
            tracing::warn!(topic = %self.topic, "cannot queue the reply subscription");
        }
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
