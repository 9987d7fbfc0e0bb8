//! One message's way through the gateway: decoded into an event, delivered through the
//! pipeline until it settles (retrying what may heal, for as long as it takes), and handed to
//! the dead-letter sink when it cannot be delivered at all. The answer says whether the
//! message may now be acknowledged.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryFutureExt;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use switchyard_core::BoxError;
use switchyard_core::event::Event;
use switchyard_core::pipeline::{Delivered, Pipeline, Sink, deliver};
use switchyard_core::settle::{Settlement, dead_letter_copy, settle, undecodable};

use crate::config::{BackoffConfig, MqttInboundConfig};
use crate::connection::Message;
use crate::convert::{self, MqttMessage, Wrapper};

/// How a message's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pipeline confirmed it.
    Delivered,
    /// The pipeline refused it for good; the dead-letter sink took it.
    DeadLettered,
    /// Not a valid CloudEvent; the dead-letter sink took it.
    Undecodable,
    /// Refused for good or undecodable, and no dead-letter sink took it: logged and dropped.
    Dropped,
    /// Given up before it settled (shutdown, or the broker will redeliver it): not to be
    /// acknowledged.
    Abandoned,
}

impl Outcome {
    /// Whether the message may be acknowledged. MQTT has no negative acknowledgement: a message
    /// is either acknowledged or, after a reconnect, redelivered. So a message that can never be
    /// delivered is acknowledged once it is dead-lettered (or dropped), or it would come back
    /// forever.
    pub fn settled(self) -> bool {
        self != Self::Abandoned
    }

    /// The `outcome` label of `switchyard_inbound_messages_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Delivered => "acked",
            Self::DeadLettered => "dead_lettered",
            Self::Undecodable => "undecodable",
            Self::Dropped => "dropped",
            Self::Abandoned => "abandoned",
        }
    }
}

/// A received message as an event.
enum Decoded {
    Event(Event),
    /// Not a valid CloudEvent: the event that carries it to the dead-letter sink.
    Undecodable(Event),
}

/// What every delivery of one inbound shares.
#[derive(Debug)]
pub struct Delivery {
    pub inbound: Arc<str>,
    pipeline: Pipeline,
    dead_letter: Option<Sink>,
    wrapper: Wrapper,
    /// Larger payloads are dead-lettered without their bytes (MQTT 3.1.1 cannot tell the
    /// broker our limit, so they can arrive).
    max_payload: usize,
    retry: BackoffConfig,
}

impl Delivery {
    pub fn new(
        inbound: Arc<str>,
        config: &MqttInboundConfig,
        pipeline: Pipeline,
        dead_letter: Option<Sink>,
        wrapper: Wrapper,
    ) -> Self {
        Self {
            inbound,
            pipeline,
            dead_letter,
            wrapper,
            max_payload: config.max_packet_size as usize,
            retry: config.retry.clone(),
        }
    }

    /// Delivers `message` until it settles or `stop` is cancelled between two attempts.
    pub async fn run(&self, message: &Message, stop: &CancellationToken) -> Outcome {
        let event = match self.decode(message) {
            Decoded::Event(event) => event,
            Decoded::Undecodable(undecodable) => {
                return self
                    .dead_letter(undecodable, Outcome::Undecodable, stop)
                    .await;
            }
        };
        let pipeline = |event| deliver(&self.pipeline, event);
        match self.until_settled(&event, stop, pipeline).await {
            None => Outcome::Abandoned,
            Some(Settlement::DeadLetter { reason }) => {
                let copy = dead_letter_copy(&event, &reason);
                self.dead_letter(copy, Outcome::DeadLettered, stop).await
            }
            Some(_) => Outcome::Delivered,
        }
    }

    fn decode(&self, message: &Message) -> Decoded {
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
            Ok(cloud) => Decoded::Event(Event::new(cloud, self.inbound.clone(), topic)),
            Err(e) => self.undecodable(topic, payload.clone(), &e.to_string()),
        }
    }

    fn undecodable(&self, topic: &str, payload: Bytes, reason: &str) -> Decoded {
        Decoded::Undecodable(undecodable(&self.inbound, topic, payload, reason))
    }

    /// Hands `event` (already carrying its reason) to the dead-letter sink, retrying like a
    /// normal delivery; `kind` is the outcome once the sink took it.
    async fn dead_letter(&self, event: Event, kind: Outcome, stop: &CancellationToken) -> Outcome {
        let reason = reason_of(&event);
        let Some(sink) = &self.dead_letter else {
            tracing::warn!(inbound = %self.inbound, topic = %event.origin.topic, id = %event.cloud.id, %reason,
                "message cannot be delivered and no dead-letter sink is configured; acknowledging and dropping it");
            return Outcome::Dropped;
        };
        let send = |event| {
            sink.clone()
                .oneshot(event)
                .map_ok(|()| Delivered::default())
        };
        match self.until_settled(&event, stop, send).await {
            None => Outcome::Abandoned,
            Some(Settlement::DeadLetter { reason: refusal }) => {
                tracing::error!(inbound = %self.inbound, topic = %event.origin.topic, id = %event.cloud.id, %reason, %refusal,
                    "the dead-letter sink refused the message; acknowledging and dropping it");
                Outcome::Dropped
            }
            Some(_) => {
                tracing::info!(inbound = %self.inbound, topic = %event.origin.topic, id = %event.cloud.id, %reason, "message dead-lettered");
                kind
            }
        }
    }

    /// Calls `attempt` until its answer settles as Ack or DeadLetter, waiting out a backoff
    /// (at least the Retry-After) between attempts. `None` when `stop` is cancelled while
    /// waiting; an attempt under way is never cut short.
    async fn until_settled<F, Fut>(
        &self,
        event: &Event,
        stop: &CancellationToken,
        mut attempt: F,
    ) -> Option<Settlement>
    where
        F: FnMut(Event) -> Fut,
        Fut: Future<Output = Result<Delivered, BoxError>>,
    {
        let mut backoff = self.retry.backoff();
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            let (after, reason) = match settle(&attempt(event.clone()).await) {
                Settlement::Retry { after, reason } => (after, reason),
                settled => return Some(settled),
            };
            metrics::counter!("switchyard_inbound_messages_total", "inbound" => self.inbound.to_string(), "outcome" => "retried")
                .increment(1);
            let delay = backoff.next_delay(after);
            if attempts == 1 {
                tracing::warn!(inbound = %self.inbound, id = %event.cloud.id, %reason, ?delay, "delivery failed; retrying until it succeeds");
            } else {
                tracing::debug!(inbound = %self.inbound, id = %event.cloud.id, %reason, attempts, ?delay, "delivery failed again");
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// The dead-letter reason the event carries (every caller set one).
fn reason_of(event: &Event) -> String {
    event
        .cloud
        .attribute(switchyard_core::settle::REASON_EXTENSION)
        .map(|r| r.into_owned())
        .unwrap_or_default()
}
