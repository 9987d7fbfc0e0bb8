//! The MQTT side of an exclusive pair (`pairs.NAME.mqtt`): one connection that subscribes to
//! the device's output and publishes to its input. It is the pair's bound peer: each
//! WebSocket that joins `/pair/NAME` attaches to it; messages from the device go to the
//! attached WebSocket (dropped and counted while none is, or while it is 64 frames behind),
//! and the WebSocket's frames are published to the device, with backpressure.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::Counter;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use switchyard_core::health::ReadinessCheck;
use switchyard_core::pair::{BoundPeer, Frame, PeerLink, link};

use crate::config::{BrokerAddress, MqttPairConfig, RECONNECT};
use crate::connection::{self, Client, EventLoop, Message, Polled};

/// A pair's MQTT peer; stops its connection when dropped.
#[derive(Debug)]
pub struct MqttPeer {
    shared: Arc<Shared>,
    _stop: DropGuard,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    publish: String,
    qos: u8,
    /// Where the device's messages go: the attached WebSocket, if any.
    current: Mutex<Option<mpsc::Sender<Frame>>>,
    dropped: Counter,
}

impl MqttPeer {
    /// Validates `config` (errors under `pairs.NAME.mqtt`) and connects in the background
    /// (inside a tokio runtime); `ready` follows the connection.
    pub fn start(
        name: &str,
        config: &MqttPairConfig,
        ready: ReadinessCheck,
    ) -> Result<Self, Vec<String>> {
        let errors = config.validate(&format!("pairs.{name}.mqtt"));
        if !errors.is_empty() {
            return Err(errors);
        }
        let address = BrokerAddress::parse(&config.url).map_err(|e| vec![e])?;
        let client_id = config.client_id.clone().unwrap_or_else(|| {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("switchyard-pair-{name}-{}", &suffix[..8])
        });
        let settings = connection::Settings {
            request_capacity: 64,
            ..config.link().settings(address, client_id)
        };
        let (client, events) = connection::open(&settings);
        let shared = Arc::new(Shared {
            client,
            publish: config.publish.clone(),
            qos: config.qos,
            current: Mutex::new(None),
            dropped: metrics::counter!("switchyard_pair_frames_dropped_total", "pair" => name.to_owned()),
        });
        let stop = CancellationToken::new();
        let driver = Driver {
            name: name.to_owned(),
            shared: shared.clone(),
            subscribe: config.subscribe.clone(),
            ready,
            backoff: config.reconnect.resolve(RECONNECT).backoff(),
        };
        tokio::spawn(driver.run(events, stop.clone()));
        Ok(Self {
            shared,
            _stop: stop.drop_guard(),
        })
    }
}

impl BoundPeer for MqttPeer {
    fn attach(&self) -> PeerLink {
        let (websocket, ours) = link();
        let PeerLink {
            to_partner,
            mut from_partner,
        } = ours;
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(to_partner);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            while let Some(frame) = from_partner.recv().await {
                let payload = match frame {
                    Frame::Text(text) => text.into(),
                    Frame::Binary(bytes) => bytes,
                };
                if let Err(e) = shared
                    .client
                    .publish(&shared.publish, shared.qos, payload)
                    .await
                {
                    tracing::warn!(topic = %shared.publish, error = %e, "pair: cannot publish to the device");
                    shared.dropped.increment(1);
                }
            }
        });
        websocket
    }
}

struct Driver {
    name: String,
    shared: Arc<Shared>,
    subscribe: String,
    ready: ReadinessCheck,
    backoff: switchyard_core::backoff::Backoff,
}

impl Driver {
    async fn run(mut self, mut events: EventLoop, stop: CancellationToken) {
        self.ready.set(false);
        loop {
            let polled = tokio::select! {
                () = stop.cancelled() => return,
                polled = events.poll() => polled,
            };
            match polled {
                Ok(Polled::Connected { .. }) => {
                    self.backoff.reset();
                    let topics = std::slice::from_ref(&self.subscribe);
                    if self
                        .shared
                        .client
                        .try_subscribe(topics, self.shared.qos)
                        .is_err()
                    {
                        tracing::warn!(pair = %self.name, "pair: cannot queue the subscription");
                    }
                }
                // Ready once the broker has the subscription: the device's messages arrive.
                Ok(Polled::Subscribed { refused }) if refused.is_empty() => self.ready.set(true),
                Ok(Polled::Subscribed { refused }) => {
                    tracing::error!(pair = %self.name, ?refused, "pair: the broker refused the subscription");
                }
                Ok(Polled::Message(message)) => self.forward(&message),
                Ok(_) => {}
                Err(error) => {
                    self.ready.set(false);
                    let delay = self.backoff.next_delay(Duration::ZERO);
                    tracing::warn!(pair = %self.name, %error, ?delay, "pair: MQTT connection failed; reconnecting");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// One message from the device, to the attached WebSocket.
    fn forward(&self, message: &Message) {
        let payload = message.payload().clone();
        let frame = match std::str::from_utf8(&payload) {
            Ok(text) => Frame::Text(text.to_owned()),
            Err(_) => Frame::Binary(payload),
        };
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sent = current
            .as_ref()
            .is_some_and(|peer| peer.try_send(frame).is_ok());
        if !sent {
            self.shared.dropped.increment(1);
        }
    }
}
