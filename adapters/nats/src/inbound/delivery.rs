//! One message's way in: decoded into an event (or marked undecodable) and settled by the
//! core's settlement driver, through the acker of its kind: core NATS has nothing to ack,
//! JetStream acks, naks or terminates.

use std::sync::Arc;

use async_nats::jetstream::{self, AckKind};
use tokio_util::sync::CancellationToken;

use switchyard_core::event::Event;
use switchyard_core::settle::{Acker, Received, SettlementDriver, undecodable};

use crate::convert::subject::topic_of;
use crate::convert::{self, NatsMessage, Wrapper};

/// What every delivery of one inbound shares.
#[derive(Debug)]
pub(super) struct Delivery {
    driver: SettlementDriver,
    wrapper: Wrapper,
}

impl Delivery {
    pub(super) fn new(driver: SettlementDriver, wrapper: Wrapper) -> Self {
        Self { driver, wrapper }
    }

    pub(super) fn inbound(&self) -> &Arc<str> {
        self.driver.inbound()
    }

    /// Delivers a message and settles it through `acker`.
    pub(super) async fn settle(
        &self,
        message: &async_nats::Message,
        acker: impl Acker,
        stop: &CancellationToken,
    ) {
        let received = self.decode(message);
        self.driver.settle(received, acker, stop).await;
    }

    fn decode(&self, message: &async_nats::Message) -> Received {
        let topic = topic_of(message.subject.as_str());
        let nats = NatsMessage {
            subject: message.subject.as_str(),
            headers: message.headers.as_ref(),
            payload: &message.payload,
        };
        match convert::decode(nats, &self.wrapper) {
            Ok(cloud) => Received::Event(Event::new(cloud, self.inbound().clone(), topic)),
            Err(e) => {
                let reason = format!("not a valid CloudEvent: {e}");
                let payload = message.payload.clone();
                Received::Undecodable(undecodable(self.inbound(), &topic, payload, &reason))
            }
        }
    }
}

/// Core NATS: nothing to acknowledge; a message that will never be delivered is dropped with
/// a log line (at-most-once).
#[derive(Debug)]
pub(super) struct Unacknowledged<'a> {
    pub inbound: &'a str,
}

impl Acker for Unacknowledged<'_> {
    type Settled = ();

    async fn ack(self) {}

    async fn retry(self) {}

    async fn reject(self, reason: &str) {
        tracing::error!(inbound = %self.inbound, %reason, "core NATS has no redelivery; dropping the message");
    }

    fn abandon(self) {}
}

/// JetStream: `ack`, `nak` (redelivered), `term` (never again).
#[derive(Debug)]
pub(super) struct Stream<'a> {
    pub message: &'a jetstream::Message,
    pub inbound: &'a str,
}

impl Stream<'_> {
    async fn send(&self, kind: AckKind, settlement: &str) {
        if let Err(error) = self.message.ack_with(kind).await {
            tracing::warn!(inbound = %self.inbound, settlement, %error,
                "settling failed; JetStream redelivers the message after ack_wait");
        }
    }
}

impl Acker for Stream<'_> {
    type Settled = ();

    async fn ack(self) {
        self.send(AckKind::Ack, "ack").await;
    }

    async fn retry(self) {
        self.send(AckKind::Nak(None), "nak").await;
    }

    async fn reject(self, reason: &str) {
        tracing::info!(inbound = %self.inbound, %reason, "terminating the message (it is not redelivered)");
        self.send(AckKind::Term, "term").await;
    }

    /// Left unacknowledged: JetStream redelivers it after `ack_wait`.
    fn abandon(self) {}
}
