//! The poller: the one task that drives the inbound's MQTT connection. rumqttc only makes
//! progress (reads, writes our acks, pings) while its event loop is polled, so this task does
//! nothing else: it hands messages to the dispatcher, re-subscribes on every connect, keeps
//! readiness and the [`Session`] up to date, and reconnects with backoff after errors.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;

use super::{Arrival, PollerLinks};
use crate::config::{MqttInboundConfig, RECONNECT};
use crate::connection::{Client, EventLoop, Polled};
use crate::error::ConnectionError;
use switchyard_core::backoff::Backoff;

#[derive(Debug)]
pub struct Poller {
    inbound: Arc<str>,
    events: EventLoop,
    client: Client,
    filters: Vec<String>,
    qos: u8,
    links: PollerLinks,
    ready: ReadinessCheck,
    reconnect: Backoff,
    /// Cancelled when the inbound shuts down: our own DISCONNECT then ends the loop.
    shutdown: CancellationToken,
}

impl Poller {
    pub fn new(
        inbound: Arc<str>,
        config: &MqttInboundConfig,
        events: EventLoop,
        client: Client,
        links: PollerLinks,
        ready: ReadinessCheck,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inbound,
            events,
            client,
            filters: config.subscribe.clone(),
            qos: config.qos,
            links,
            ready,
            reconnect: config.reconnect.resolve(RECONNECT).backoff(),
            shutdown,
        }
    }

    /// Polls until the broker closed the connection after our DISCONNECT (sent at shutdown),
    /// or until `stop` (a hard stop).
    pub async fn run(mut self, stop: CancellationToken) {
        let mut disconnecting = false;
        loop {
            let polled = tokio::select! {
                _ = stop.cancelled() => break,
                polled = self.events.poll() => polled,
            };
            match polled {
                // Waiting for the broker to close the connection, rather than closing it at
                // once, means it has read everything before the DISCONNECT, our last acks
                // included: a quick restart cannot take the session over before it has.
                Ok(Polled::Disconnecting) => disconnecting = self.shutdown.is_cancelled(),
                Err(_) if disconnecting => break,
                Ok(Polled::Connected {
                    session_present, ..
                }) => self.on_connected(session_present),
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
        self.links.session.send_modify(|s| s.connected = false);
    }

    fn on_connected(&mut self, session_present: bool) {
        self.links.session.send_modify(|s| {
            s.generation += 1;
            s.connected = true;
            s.resumed = session_present;
        });
        tracing::info!(inbound = %self.inbound, session_present, "MQTT connected");
        // The broker forgets subscriptions with a clean session, and re-subscribing to a
        // resumed one is harmless: subscribe on every connect (bytebeamio/rumqtt#250).
        if self.client.try_subscribe(&self.filters, self.qos).is_err() {
            self.drop_connection("the subscribe request could not be queued");
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
        let generation = self.links.session.borrow().generation;
        let acks_stalled = self.links.acks_stalled.clone();
        tokio::select! {
            sent = self.links.arrivals.send(Arrival { generation, message }) => {
                if sent.is_err() {
                    // The dispatcher stopped taking messages (shutdown). Unacknowledged, the
                    // message stays with the broker for the next start.
                    tracing::debug!(inbound = %self.inbound, "message left unacknowledged during shutdown");
                }
            }
            // The dispatcher waits for us to drain its acks while we wait for it to take this
            // message. Only a broker that ignores our Receive Maximum (Mosquitto 2.0.11 sends
            // a new window per ack) can get us here; a new connection breaks the cycle, and
            // the broker redelivers this message and every unacknowledged one.
            _ = acks_stalled.notified() => self.drop_connection("acknowledgements cannot be queued"),
        }
    }

    /// Closes the connection at once; the next poll reconnects (and a new session generation
    /// makes the dispatcher give up on the acks of this one).
    fn drop_connection(&mut self, reason: &str) {
        tracing::warn!(inbound = %self.inbound, reason, "dropping the MQTT connection; unacknowledged messages will be redelivered");
        self.ready.set(false);
        self.links.session.send_modify(|s| s.connected = false);
        self.events.forget_pending();
    }

    /// After a connection error: marks the connection down, waits out the backoff and clears
    /// what the connection left behind. `false` when stopped meanwhile.
    async fn recover(&mut self, error: &ConnectionError, stop: &CancellationToken) -> bool {
        self.ready.set(false);
        self.links.session.send_modify(|s| s.connected = false);
        let delay = self.reconnect.next_delay(Duration::ZERO);
        tracing::warn!(inbound = %self.inbound, %error, ?delay, "MQTT connection failed; reconnecting after a backoff");
        // Shutting down, a new connection is of no use: acks are only ever sent on the
        // connection their messages came on, and no new message would be taken.
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = self.shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        // The session is marked down, so no new ack enters rumqttc's queue from here on.
        self.events.forget_pending();
        true
    }
}
