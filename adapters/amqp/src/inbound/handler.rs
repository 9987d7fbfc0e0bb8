//! One delivery, from decoding to settlement: decode (or wrap, or mark undecodable), deliver
//! through the pipeline, then ack, requeue or dead-letter according to the answer. Nothing is
//! acked before the sinks confirmed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lapin::Acker;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use switchyard_core::event::Event;
use switchyard_core::pipeline::{Delivered, Pipeline, Sink, deliver};
use switchyard_core::settle::{Settlement, dead_letter_copy, settle, undecodable};

use crate::config::AmqpInboundConfig;
use crate::convert::{self, Incoming, WrapContext, Wrapper};

/// Longest we hold a message before requeueing it, whatever delay a sink asked for: a held
/// message occupies a prefetch slot.
const MAX_REQUEUE_DELAY: Duration = Duration::from_secs(60);

/// Everything a delivery task needs; shared by all of an inbound's tasks.
pub(super) struct Handler {
    name: Arc<str>,
    queue: String,
    wrapper: Wrapper,
    pipeline: Pipeline,
    dead_letter: Option<Sink>,
    requeue_delay: Duration,
    /// Cuts requeue delays short, so shutdown hands held messages back at once.
    shutdown: CancellationToken,
}

/// How a message is settled.
enum Outcome {
    /// Every sink confirmed.
    Delivered,
    /// The dead-letter sink confirmed the copy.
    DeadLettered,
    /// May heal: hand back to the broker after `after`.
    Requeue { after: Duration, reason: String },
    /// Will not heal and no dead-letter sink took it: the broker's dead-letter exchange, if
    /// the queue has one, gets it.
    Reject { reason: String },
}

impl Handler {
    pub(super) fn new(
        name: Arc<str>,
        config: &AmqpInboundConfig,
        wrapper: Wrapper,
        pipeline: Pipeline,
        dead_letter: Option<Sink>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            name,
            queue: config.queue.clone(),
            wrapper,
            pipeline,
            dead_letter,
            requeue_delay: Duration::from_millis(config.requeue_delay_ms),
            shutdown,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Handles one delivery to its settlement.
    pub(super) async fn handle(self: Arc<Self>, delivery: Delivery) {
        let Delivery {
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
            inbound: &self.name,
            queue: &self.queue,
            exchange: exchange.as_str(),
            routing_key: routing_key.as_str(),
        };
        let (outcome, decoded) = match convert::decode(&message, &self.wrapper, &context) {
            Ok(cloud) => (
                self.process(Event::new(cloud, self.name.clone(), topic))
                    .await,
                true,
            ),
            Err(e) => {
                let reason = format!("not a valid CloudEvent: {e}");
                tracing::debug!(inbound = %self.name, %reason, "undecodable AMQP message");
                let event = undecodable(&self.name, &topic, message.body, &reason);
                (self.dead_letter(Some(event), reason).await, false)
            }
        };
        self.settle(&acker, outcome, decoded).await;
    }

    async fn process(&self, event: Event) -> Outcome {
        // Kept only if a dead-letter sink may need it; without one a failure is a reject.
        let copy = self.dead_letter.is_some().then(|| event.clone());
        match settle(&deliver(&self.pipeline, event).await) {
            Settlement::Ack => Outcome::Delivered,
            Settlement::Retry { after, reason } => Outcome::Requeue { after, reason },
            Settlement::DeadLetter { reason } => self.dead_letter(copy, reason).await,
        }
    }

    /// Sends the copy to the dead-letter sink, whose answer is read like a pipeline's: a
    /// failure that may heal requeues the message (to be tried again from the start).
    async fn dead_letter(&self, event: Option<Event>, reason: String) -> Outcome {
        let (Some(sink), Some(event)) = (&self.dead_letter, event) else {
            return Outcome::Reject { reason };
        };
        let copy = dead_letter_copy(&event, &reason);
        let result = sink
            .clone()
            .oneshot(copy)
            .await
            .map(|()| Delivered { sinks: 1 });
        match settle(&result) {
            Settlement::Ack => Outcome::DeadLettered,
            Settlement::Retry {
                after,
                reason: failed,
            } => Outcome::Requeue {
                after,
                reason: format!("{reason}; dead-letter sink failed: {failed}"),
            },
            Settlement::DeadLetter { reason: refused } => Outcome::Reject {
                reason: format!("{reason}; dead-letter sink refused it: {refused}"),
            },
        }
    }

    async fn settle(&self, acker: &Acker, outcome: Outcome, decoded: bool) {
        let (label, result) = match outcome {
            Outcome::Delivered => ("acked", acker.ack(BasicAckOptions::default()).await),
            Outcome::DeadLettered => {
                let label = if decoded {
                    "dead_lettered"
                } else {
                    "undecodable"
                };
                (label, acker.ack(BasicAckOptions::default()).await)
            }
            Outcome::Requeue { after, reason } => {
                ("requeued", self.requeue(acker, after, &reason).await)
            }
            Outcome::Reject { reason } => {
                let label = if decoded { "rejected" } else { "undecodable" };
                tracing::info!(inbound = %self.name, %reason, "rejecting message to the queue's dead-letter exchange");
                let reject = BasicRejectOptions { requeue: false };
                (label, acker.reject(reject).await)
            }
        };
        self.record(label, result);
    }

    /// Holds the message for the requeue delay (cut short by shutdown), then hands it back.
    async fn requeue(&self, acker: &Acker, after: Duration, reason: &str) -> lapin::Result<bool> {
        let longest = MAX_REQUEUE_DELAY.max(self.requeue_delay);
        let delay = after.clamp(self.requeue_delay, longest);
        tracing::debug!(inbound = %self.name, %reason, ?delay, "delivery failed; requeueing");
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = tokio::time::sleep(delay) => {}
        }
        let requeue = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        acker.nack(requeue).await
    }

    /// Counts a settlement the broker got.
    fn record(&self, label: &'static str, result: lapin::Result<bool>) {
        match result {
            Ok(true) => {
                metrics::counter!("switchyard_inbound_messages_total", "inbound" => self.name.clone(), "outcome" => label)
                    .increment(1);
            }
            // The channel died with its connection: the broker redelivers the message to the
            // next session (a duplicate if it had been delivered; at-least-once).
            Ok(false) => {
                tracing::debug!(inbound = %self.name, outcome = label, "channel gone before settling; the broker will redeliver");
            }
            Err(e) => {
                tracing::warn!(inbound = %self.name, outcome = label, error = %e, "settling failed; the broker will redeliver");
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
