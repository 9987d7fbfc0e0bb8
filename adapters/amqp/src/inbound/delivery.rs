//! One delivery, from decoding to settlement: decode (or wrap, or mark undecodable), then
//! the core's settlement driver delivers it and decides: ack, requeue after a delay, or
//! dead-letter. Nothing is acked before the sinks confirmed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lapin::message;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;

use switchyard_core::event::Event;
use switchyard_core::pipeline::Pipeline;
use switchyard_core::settle::{Acker, Received, RetryMode, SettlementDriver, undecodable};

use crate::convert::{self, Incoming, WrapContext, Wrapper};

/// Longest we hold a message before requeueing it, whatever delay a sink asked for: a held
/// message occupies a prefetch slot.
const MAX_REQUEUE_DELAY: Duration = Duration::from_secs(60);

/// Everything a delivery task needs; shared by all of an inbound's tasks.
#[derive(Debug)]
pub(super) struct Delivery {
    driver: SettlementDriver,
    queue: String,
    wrapper: Wrapper,
    /// Cuts requeue delays short, so shutdown hands held messages back at once.
    shutdown: CancellationToken,
}

impl Delivery {
    pub(super) fn new(
        name: Arc<str>,
        (queue, wrapper): (String, Wrapper),
        (pipeline, dead_letter): (Pipeline, Option<Pipeline>),
        requeue_delay: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        let retry = RetryMode::HandBack {
            min: requeue_delay,
            max: MAX_REQUEUE_DELAY.max(requeue_delay),
        };
        Self {
            driver: SettlementDriver::new(name, pipeline, dead_letter, retry),
            queue,
            wrapper,
            shutdown,
        }
    }

    pub(super) fn name(&self) -> &str {
        self.driver.inbound()
    }

    /// Handles one delivery to its settlement.
    pub(super) async fn handle(self: Arc<Self>, delivery: message::Delivery) {
        let message::Delivery {
            exchange,
            routing_key,
            properties,
            data,
            acker,
            ..
        } = delivery;
        let topic = topic_of(routing_key.as_str(), &self.queue);
        let message = Incoming {
            properties: &properties,
            body: Bytes::from(data),
        };
        let context = WrapContext {
            inbound: self.name(),
            queue: &self.queue,
            exchange: exchange.as_str(),
            routing_key: routing_key.as_str(),
        };
        let inbound = self.driver.inbound();
        let received = match convert::decode(&message, &self.wrapper, &context) {
            Ok(cloud) => Received::Event(Event::new(cloud, inbound.clone(), topic)),
            Err(e) => {
                let reason = format!("not a valid CloudEvent: {e}");
                Received::Undecodable(undecodable(inbound, &topic, message.body, &reason))
            }
        };
        let acker = Broker {
            acker,
            inbound: self.name(),
        };
        self.driver.settle(received, acker, &self.shutdown).await;
    }
}

/// AMQP's acker: `basic.ack`, `basic.nack` with requeue, `basic.reject` without (to the
/// queue's dead-letter exchange, if it has one).
struct Broker<'a> {
    acker: lapin::Acker,
    inbound: &'a str,
}

impl Acker for Broker<'_> {
    type Settled = ();

    async fn ack(self) {
        self.report("ack", self.acker.ack(BasicAckOptions::default()).await);
    }

    async fn retry(self) {
        let requeue = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        self.report("requeue", self.acker.nack(requeue).await);
    }

    async fn reject(self, reason: &str) {
        tracing::info!(inbound = %self.inbound, %reason, "rejecting message to the queue's dead-letter exchange");
        let reject = BasicRejectOptions { requeue: false };
        self.report("reject", self.acker.reject(reject).await);
    }

    /// Left unsettled on the channel: the broker redelivers it when the channel closes.
    fn abandon(self) {}
}

impl Broker<'_> {
    fn report(&self, settlement: &str, result: lapin::Result<bool>) {
        match result {
            Ok(true) => {}
            // The channel died with its connection: the broker redelivers the message to the
            // next session (a duplicate if it had been delivered; at-least-once).
            Ok(false) => {
                tracing::debug!(inbound = %self.inbound, settlement, "channel gone before settling; the broker will redeliver");
            }
            Err(e) => {
                tracing::warn!(inbound = %self.inbound, settlement, error = %e, "settling failed; the broker will redeliver");
            }
        }
    }
}

/// The event's topic: the routing key with AMQP's `.` separators as `/` levels, so routes
/// written with topic filters (`orders/#`) match and an AMQP outbound with the default
/// `{topic}` key publishes it under the same key again. An empty key (a fanout exchange)
/// gives the queue's name.
fn topic_of(routing_key: &str, queue: &str) -> String {
    if routing_key.is_empty() {
        queue.to_owned()
    } else {
        routing_key.replace('.', "/")
    }
}

#[cfg(test)]
mod tests {
    use super::topic_of;

    #[test]
    fn routing_key_words_become_topic_levels() {
        assert_eq!(topic_of("orders.eu.created", "q"), "orders/eu/created");
        assert_eq!(topic_of("", "q"), "q");
    }
}
