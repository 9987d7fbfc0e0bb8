//! The settlement driver: one broker message's way from arrival to settlement, the same for
//! every broker inbound. A message arrives decoded or undecodable; it is delivered through the
//! pipeline, its answer is mapped to a [`Settlement`], a message that will never be delivered
//! goes to the dead-letter pipeline (so every layer sees it), and the result is carried out on
//! the broker by the protocol's [`Acker`]. Nothing is acknowledged before the sinks confirmed.
//!
//! Metric: `switchyard_inbound_messages_total{inbound, outcome}`, one per message and one per
//! failed attempt that is retried; `outcome` is an [`Outcome`] label.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{REASON_EXTENSION, Settlement, dead_letter_copy, settle};
use crate::event::Event;
use crate::pipeline::{Pipeline, deliver};
use crate::retry::RetryPolicy;

/// A broker message as its inbound hands it over.
#[derive(Debug)]
pub enum Received {
    /// Decoded (or wrapped) into an event.
    Event(Event),
    /// Not a valid CloudEvent: the event that carries its bytes and the reason
    /// ([`super::undecodable`]) to the dead-letter sink.
    Undecodable(Event),
}

/// How a message's delivery ended; the `outcome` label of the inbound metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every sink confirmed: ack.
    Acked,
    /// Refused for good; the dead-letter sink took it: ack.
    DeadLettered,
    /// Not a valid CloudEvent; the dead-letter sink took it: ack.
    Undecodable,
    /// Refused for good or undecodable, and no dead-letter sink took it: the protocol's own
    /// refusal (AMQP reject, to the queue's dead-letter exchange; MQTT, which has none, acks
    /// and drops it with an error log).
    Rejected,
    /// Failed in a way that may heal, and handed back to the broker to redeliver (AMQP nack
    /// with requeue). Also counted once per failed attempt retried in place.
    Retried,
    /// Given up before it settled (shutdown, or the broker redelivers it anyway): left
    /// unacknowledged.
    Abandoned,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Acked => "acked",
            Self::DeadLettered => "dead_lettered",
            Self::Undecodable => "undecodable",
            Self::Rejected => "rejected",
            Self::Retried => "retried",
            Self::Abandoned => "abandoned",
        }
    }
}

/// How a failure that may heal is retried.
#[derive(Debug, Clone, Copy)]
pub enum RetryMode {
    /// Delivered again here, with backoff, until it settles; for protocols without a negative
    /// acknowledgement (MQTT redelivers an unacked message only after a reconnect).
    InPlace(RetryPolicy),
    /// Held for the sink's Retry-After within `[min, max]` (cut short by the stop token),
    /// then handed back to the broker, which redelivers it (AMQP nack with requeue). A held
    /// message occupies a prefetch slot, hence the cap.
    HandBack { min: Duration, max: Duration },
}

/// A protocol's way of settling one message with its broker. Abandoning is dropping the
/// message unsettled, which every protocol turns into a redelivery.
pub trait Acker: Send {
    /// What settling hands back to the inbound (e.g. the MQTT dispatcher's ack ticket).
    type Settled: Send;
    /// Delivered (or dead-lettered): the broker may forget it.
    fn ack(self) -> impl Future<Output = Self::Settled> + Send;
    /// May heal: the broker is to deliver it again.
    fn retry(self) -> impl Future<Output = Self::Settled> + Send;
    /// Will never be delivered and no dead-letter sink took it; `reason` says why.
    fn reject(self, reason: &str) -> impl Future<Output = Self::Settled> + Send;
    /// Left unsettled.
    fn abandon(self) -> Self::Settled;
}

/// What every message of one inbound shares.
#[derive(Debug)]
pub struct SettlementDriver {
    inbound: Arc<str>,
    pipeline: Pipeline,
    dead_letter: Option<Pipeline>,
    retry: RetryMode,
}

/// Where the attempts at one target ended.
enum Verdict {
    Settled(Settlement),
    HandBack { after: Duration, reason: String },
    Stopped,
}

impl SettlementDriver {
    pub fn new(
        inbound: Arc<str>,
        pipeline: Pipeline,
        dead_letter: Option<Pipeline>,
        retry: RetryMode,
    ) -> Self {
        Self {
            inbound,
            pipeline,
            dead_letter,
            retry,
        }
    }

    /// The inbound's name.
    pub fn inbound(&self) -> &Arc<str> {
        &self.inbound
    }

    /// Settles `received` through `acker`. `stop` cuts waits short (a retry's backoff, a
    /// hand-back's hold), never an attempt under way.
    pub async fn settle<A: Acker>(
        &self,
        received: Received,
        acker: A,
        stop: &CancellationToken,
    ) -> A::Settled {
        let (outcome, reason) = self.decide(received, stop).await;
        self.count(outcome);
        match outcome {
            Outcome::Acked | Outcome::DeadLettered | Outcome::Undecodable => acker.ack().await,
            Outcome::Rejected => acker.reject(&reason).await,
            Outcome::Retried => acker.retry().await,
            Outcome::Abandoned => acker.abandon(),
        }
    }

    /// The outcome, and for a rejection why.
    async fn decide(&self, received: Received, stop: &CancellationToken) -> (Outcome, String) {
        let event = match received {
            Received::Event(event) => event,
            Received::Undecodable(event) => {
                tracing::debug!(inbound = %self.inbound, reason = %reason_of(&event), "undecodable message");
                return self.dead_letter(event, Outcome::Undecodable, stop).await;
            }
        };
        let keep = self.dead_letter.is_some();
        match self.attempt(&self.pipeline, event, keep, stop).await {
            (Verdict::Settled(Settlement::DeadLetter { reason }), copy) => match copy {
                Some(event) => {
                    let copy = dead_letter_copy(&event, &reason);
                    self.dead_letter(copy, Outcome::DeadLettered, stop).await
                }
                None => (Outcome::Rejected, reason),
            },
            (verdict, _) => self.settled(verdict, stop).await,
        }
    }

    /// Hands `event` (already carrying its reason) to the dead-letter pipeline; `kind` is the
    /// outcome once it confirmed.
    async fn dead_letter(
        &self,
        event: Event,
        kind: Outcome,
        stop: &CancellationToken,
    ) -> (Outcome, String) {
        let reason = reason_of(&event);
        let Some(target) = &self.dead_letter else {
            tracing::warn!(inbound = %self.inbound, topic = %event.origin.topic, id = %event.cloud.id, %reason,
                "message cannot be delivered and no dead-letter sink is configured");
            return (Outcome::Rejected, reason);
        };
        let (id, topic) = (event.cloud.id.clone(), event.origin.topic.clone());
        match self.attempt(target, event, false, stop).await {
            (Verdict::Settled(Settlement::Ack), _) => {
                tracing::info!(inbound = %self.inbound, %topic, %id, %reason, "message dead-lettered");
                (kind, reason)
            }
            (Verdict::Settled(Settlement::DeadLetter { reason: refusal }), _) => {
                tracing::error!(inbound = %self.inbound, %topic, %id, %reason, %refusal,
                    "the dead-letter sink refused the message");
                (
                    Outcome::Rejected,
                    format!("{reason}; the dead-letter sink refused it: {refusal}"),
                )
            }
            (verdict, _) => self.settled(verdict, stop).await,
        }
    }

    /// The outcome of an attempt that did not end in a dead letter.
    async fn settled(&self, verdict: Verdict, stop: &CancellationToken) -> (Outcome, String) {
        match verdict {
            Verdict::Settled(_) => (Outcome::Acked, String::new()),
            Verdict::Stopped => (Outcome::Abandoned, String::new()),
            Verdict::HandBack { after, reason } => {
                let RetryMode::HandBack { min, max } = self.retry else {
                    return (Outcome::Abandoned, reason);
                };
                let delay = after.clamp(min, max.max(min));
                tracing::debug!(inbound = %self.inbound, %reason, ?delay, "delivery failed; handing the message back");
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(delay) => {}
                }
                (Outcome::Retried, reason)
            }
        }
    }

    /// Delivers `event` through `target` until the answer settles (in-place retries with
    /// backoff), or until a failure is to be handed back. The event is handed back too if
    /// `keep` (or retries need it).
    async fn attempt(
        &self,
        target: &Pipeline,
        mut event: Event,
        keep: bool,
        stop: &CancellationToken,
    ) -> (Verdict, Option<Event>) {
        let mut backoff = match self.retry {
            RetryMode::InPlace(policy) => Some(policy.backoff()),
            RetryMode::HandBack { .. } => None,
        };
        let keep = keep || backoff.is_some();
        for attempts in 1u64.. {
            let copy = keep.then(|| event.clone());
            let (after, reason) = match settle(&deliver(target, event).await) {
                Settlement::Retry { after, reason } => (after, reason),
                settled => return (Verdict::Settled(settled), copy),
            };
            let (Some(backoff), Some(next)) = (backoff.as_mut(), copy) else {
                return (Verdict::HandBack { after, reason }, None);
            };
            self.count(Outcome::Retried);
            let delay = backoff.next_delay(after);
            if attempts == 1 {
                tracing::warn!(inbound = %self.inbound, id = %next.cloud.id, %reason, ?delay, "delivery failed; retrying until it succeeds");
            } else {
                tracing::debug!(inbound = %self.inbound, id = %next.cloud.id, %reason, attempts, ?delay, "delivery failed again");
            }
            tokio::select! {
                () = stop.cancelled() => return (Verdict::Stopped, Some(next)),
                () = tokio::time::sleep(delay) => {}
            }
            event = next;
        }
        (Verdict::Stopped, None)
    }

    fn count(&self, outcome: Outcome) {
        metrics::counter!("switchyard_inbound_messages_total", "inbound" => self.inbound.clone(), "outcome" => outcome.label())
            .increment(1);
    }
}

/// The dead-letter reason the event carries (every caller set one).
fn reason_of(event: &Event) -> String {
    event
        .cloud
        .attribute(REASON_EXTENSION)
        .map(|r| r.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
