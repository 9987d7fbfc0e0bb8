//! The poller: the one task that drives the inbound's MQTT connection. rumqttc only makes
//! progress (reads, writes our acks, pings) while its event loop is polled, so this task does
//! nothing else: it hands messages to the dispatcher, re-subscribes on every connect, keeps
//! readiness and the [`Session`] up to date, and reconnects with backoff after errors.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;

use super::{Arrival, Session};
use crate::backoff::Backoff;
use crate::connection::{Client, EventLoop, Polled};
use crate::error::ConnectionError;

#[derive(Debug)]
pub struct Poller {
    pub inbound: Arc<str>,
    pub events: EventLoop,
    pub client: Client,
    pub filters: Vec<String>,
    pub qos: u8,
    pub arrivals: mpsc::Sender<Arrival>,
    pub session: watch::Sender<Session>,
    pub ready: ReadinessCheck,
    pub reconnect: Backoff,
    /// Cancelled when the inbound shuts down: our own DISCONNECT then ends the loop.
    pub shutdown: CancellationToken,
}

impl Poller {
    /// Polls until our DISCONNECT is written after shutdown, or until `stop` (a hard stop).
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            let polled = tokio::select! {
                _ = stop.cancelled() => break,
                polled = self.events.poll() => polled,
            };
            match polled {
                Ok(Polled::Disconnecting) if self.shutdown.is_cancelled() => break,
                Ok(Polled::Connected { session_present }) => self.on_connected(session_present),
                Ok(Polled::Subscribed { refused }) => self.on_subscribed(&refused),
                Ok(Polled::Message(message)) => self.forward(message).await,
                Ok(_) => {}
                Err(error) => {
                    if !self.recover(&error, &stop).await {
                        break;
                    }
                }
            }
        }
        self.ready.set(false);
        self.session.send_modify(|s| s.connected = false);
    }

    fn on_connected(&mut self, session_present: bool) {
        self.session.send_modify(|s| {
            s.generation += 1;
            s.connected = true;
            s.resumed = session_present;
        });
        tracing::info!(inbound = %self.inbound, session_present, "MQTT connected");
        // The broker forgets subscriptions with a clean session, and re-subscribing to a
        // resumed one is harmless: subscribe on every connect (bytebeamio/rumqtt#250).
        if self.client.try_subscribe(&self.filters, self.qos).is_err() {
            tracing::error!(inbound = %self.inbound, "could not queue the subscribe request; reconnecting");
            self.events.forget_pending();
        }
    }

    /// Ready once every subscription is granted: before that, nothing would arrive.
    fn on_subscribed(&mut self, refused: &[String]) {
        if refused.is_empty() {
            self.ready.set(true);
            // Only a connection that got this far counts as a success for the backoff, so a
            // broker that accepts and then drops us is not retried in a tight loop.
            self.reconnect.reset();
            tracing::info!(inbound = %self.inbound, filters = ?self.filters, "subscribed");
        } else {
            self.ready.set(false);
            tracing::error!(inbound = %self.inbound, filters = ?self.filters, ?refused,
                "the broker refused subscriptions; the inbound stays unready");
        }
    }

    /// Hands a message to the dispatcher, waiting while it is at its `inflight` limit.
    async fn forward(&mut self, message: crate::connection::Message) {
        let generation = self.session.borrow().generation;
        if self
            .arrivals
            .send(Arrival {
                generation,
                message,
            })
            .await
            .is_err()
        {
            // The dispatcher stopped taking messages (shutdown). Unacknowledged, the message
            // stays with the broker for the next start.
            tracing::debug!(inbound = %self.inbound, "message left unacknowledged during shutdown");
        }
    }

    /// After a connection error: marks the connection down, waits out the backoff and clears
    /// what the connection left behind. `false` when stopped meanwhile.
    async fn recover(&mut self, error: &ConnectionError, stop: &CancellationToken) -> bool {
        self.ready.set(false);
        self.session.send_modify(|s| s.connected = false);
        let delay = self.reconnect.next_delay(Duration::ZERO);
        tracing::warn!(inbound = %self.inbound, %error, ?delay, "MQTT connection failed; reconnecting after a backoff");
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        // The session is marked down, so no new ack enters rumqttc's queue from here on.
        self.events.forget_pending();
        true
    }
}
