//! The outbound's connection task: polls rumqttc continuously (nothing moves otherwise),
//! feeds what it reports to the [`Correlator`], keeps readiness current, and reconnects with
//! backoff. It ends when the last [`super::MqttOutbound`] handle is dropped.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;

use super::correlator::{Correlator, Failure};
use crate::connection::{Client, EventLoop, Polled};
use crate::error::ConnectionError;
use switchyard_core::backoff::Backoff;

/// A connection that lasted this long counts as healthy: the next failure starts the backoff
/// from the beginning. A broker that accepts and at once drops us is retried ever slower.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(10);
/// How long a goodbye DISCONNECT may take when the outbound is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Driver {
    pub outbound: String,
    pub events: EventLoop,
    pub client: Client,
    pub correlator: Arc<Mutex<Correlator>>,
    /// Subscribed after every CONNACK; gets the messages on the Response Topic.
    pub replies: Option<Arc<super::Replies>>,
    pub ready: ReadinessCheck,
    pub connected: watch::Sender<bool>,
    pub reconnect: Backoff,
}

impl Driver {
    /// Drives the connection until `stop`.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut connected_at = None;
        loop {
            let polled = tokio::select! {
                _ = stop.cancelled() => break,
                polled = self.events.poll() => polled,
            };
            match polled {
                Ok(Polled::Connected {
                    max_packet_size, ..
                }) => {
                    connected_at = Some(Instant::now());
                    self.on_connected(max_packet_size);
                }
                Ok(polled) => self.correlate(polled),
                Err(error) => {
                    if connected_at
                        .take()
                        .is_some_and(|at| at.elapsed() >= HEALTHY_CONNECTION)
                    {
                        self.reconnect.reset();
                    }
                    if !self.recover(&error, &stop).await {
                        break;
                    }
                }
            }
        }
        self.say_goodbye().await;
    }

    fn lock(&self) -> MutexGuard<'_, Correlator> {
        // Every critical section leaves the correlator consistent, so a panic elsewhere while
        // it was held does not make it unusable.
        self.correlator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn on_connected(&mut self, max_packet_size: Option<u32>) {
        self.lock().on_connected(max_packet_size);
        if let Some(replies) = &self.replies {
            replies.reconnected();
        }
        self.ready.set(true);
        self.connected.send_replace(true);
        tracing::info!(outbound = %self.outbound, ?max_packet_size, "MQTT connected");
    }

    fn correlate(&mut self, polled: Polled) {
        if let (Polled::Message(message), Some(replies)) = (&polled, &self.replies) {
            replies.receive(message);
            return;
        }
        let mut correlator = self.lock();
        match polled {
            Polled::Sent { pkid } => correlator.on_sent(pkid),
            Polled::Collided { pkid } => correlator.on_collided(pkid),
            Polled::Confirmed { pkid } => correlator.on_confirmed(pkid),
            Polled::Refused {
                pkid,
                reason,
                transient,
            } => {
                let failure = match transient {
                    true => Failure::Busy(reason),
                    false => Failure::Refused(reason),
                };
                correlator.on_refused(pkid, failure);
            }
            _ => {}
        }
    }

    /// After a connection error: fails what was in flight, waits out the backoff and clears
    /// what the connection left behind. `false` when stopped meanwhile.
    async fn recover(&mut self, error: &ConnectionError, stop: &CancellationToken) -> bool {
        self.lock().on_connection_lost(&error.to_string());
        self.ready.set(false);
        self.connected.send_replace(false);
        let delay = self.reconnect.next_delay(Duration::ZERO);
        tracing::warn!(outbound = %self.outbound, %error, ?delay, "MQTT connection failed; reconnecting after a backoff");
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        // Nothing can be submitted while disconnected, so this empties rumqttc's queues for
        // good: every waiter of what is discarded has just been failed.
        self.events.forget_pending();
        true
    }

    /// The outbound was dropped: fail anything still waiting and disconnect politely.
    async fn say_goodbye(mut self) {
        self.lock()
            .on_connection_lost("the outbound is shutting down");
        self.ready.set(false);
        self.connected.send_replace(false);
        if self.client.try_disconnect().is_err() {
            return;
        }
        let written = async {
            while let Ok(polled) = self.events.poll().await {
                if matches!(polled, Polled::Disconnecting) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, written).await;
    }
}
