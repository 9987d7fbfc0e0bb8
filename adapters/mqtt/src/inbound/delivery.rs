//! One message's way through the gateway: decoded into an event (or marked undecodable) and
//! settled by the core's settlement driver, which retries in place what may heal: MQTT has no
//! negative acknowledgement, and a message left unacknowledged comes back only after a
//! reconnect. The answer says whether the message may now be acknowledged.

use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use switchyard_core::event::Event;
use switchyard_core::settle::{Acker, Received, SettlementDriver, undecodable};

use crate::connection::Message;
use crate::convert::{self, MqttMessage, Wrapper};

/// What every delivery of one inbound shares.
#[derive(Debug)]
pub struct Delivery {
    driver: SettlementDriver,
    wrapper: Wrapper,
    /// Larger payloads are dead-lettered without their bytes (MQTT 3.1.1 cannot tell the
    /// broker our limit, so they can arrive).
    max_payload: usize,
}

impl Delivery {
    pub fn new(driver: SettlementDriver, wrapper: Wrapper, max_payload: usize) -> Self {
        Self {
            driver,
            wrapper,
            max_payload,
        }
    }

    pub fn inbound(&self) -> &Arc<str> {
        self.driver.inbound()
    }

    /// Delivers `message` until it settles or `stop` is cancelled between two attempts;
    /// `true` when it may be acknowledged.
    pub async fn run(&self, message: &Message, stop: &CancellationToken) -> bool {
        self.driver
            .settle(self.decode(message), InOrder, stop)
            .await
    }

    fn decode(&self, message: &Message) -> Received {
        let payload = message.payload();
        let Ok(topic) = message.topic() else {
            return self.undecodable("", payload.clone(), "the topic is not UTF-8");
        };
        if payload.len() > self.max_payload {
            let reason = format!(
                "the {}-byte payload exceeds max_packet_size; its bytes are not kept",
                payload.len()
            );
            return self.undecodable(topic, Bytes::new(), &reason);
        }
        let mqtt = MqttMessage {
            topic,
            payload,
            content_type: message.content_type(),
            user_properties: message.user_properties(),
        };
        match convert::decode(mqtt, &self.wrapper) {
            Ok(cloud) => Received::Event(Event::new(cloud, self.inbound().clone(), topic)),
            Err(e) => self.undecodable(topic, payload.clone(), &e.to_string()),
        }
    }

    fn undecodable(&self, topic: &str, payload: Bytes, reason: &str) -> Received {
        Received::Undecodable(undecodable(self.inbound(), topic, payload, reason))
    }
}

/// MQTT's acker. Acknowledgements go out in arrival order, so settling a message only says
/// whether it may be acknowledged; the dispatcher sends the acks. MQTT has no negative
/// acknowledgement: a message that will never be delivered is acknowledged (and dropped,
/// logged) or it would come back forever, and one to retry is left for the broker to
/// redeliver after a reconnect.
#[derive(Debug)]
struct InOrder;

impl Acker for InOrder {
    type Settled = bool;

    async fn ack(self) -> bool {
        true
    }

    async fn retry(self) -> bool {
        false
    }

    async fn reject(self, reason: &str) -> bool {
        tracing::error!(%reason, "MQTT has no negative acknowledgement; acknowledging and dropping the message");
        true
    }

    fn abandon(self) -> bool {
        false
    }
}
