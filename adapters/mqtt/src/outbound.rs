//! The MQTT outbound: a `tower::Service<Event>` that publishes each event and answers only
//! when the broker acknowledged that very publish (PUBACK for QoS 1, PUBCOMP for QoS 2;
//! written to the socket for QoS 0), so the source acknowledges its own message only then.
//!
//! Failures, as [`DeliveryError`]s: a topic the template cannot render, an event too large
//! (for `max_packet_size`, or for the Maximum Packet Size the broker announced: rumqttc would
//! fail the whole connection over it) or a refusal by the broker is `Rejected` (dead-lettered
//! upstream); not connected, a lost connection with the outcome unknown or a full queue is
//! `Unavailable` (retried upstream, so a message may arrive twice: at-least-once); no answer
//! within `confirm_timeout_ms` is `Timeout`.
//!
//! Metric: `switchyard_outbound_attempts_total{outbound, result}`, result one of `confirmed`,
//! `rejected`, `unavailable`, `timeout`.

mod correlator;
mod driver;
mod replies;

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::{CancellationToken, DropGuard, PollSemaphore};
use tower::Service;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::ReadinessCheck;
use switchyard_core::outbound::{Outbound, OutboundContext, count_attempt};
use switchyard_core::pipeline::Sink;
use switchyard_core::template::TopicTemplate;
use switchyard_core::{BoxError, DeliveryError};

use crate::config::{BrokerAddress, MqttMode, MqttOutboundConfig, MqttVersion, RECONNECT};
use crate::connection::{self, Client, EventLoop, Settings};
use crate::convert;
use crate::error::{EncodeError, rejected, unavailable};
use correlator::{Correlator, Failure};
use driver::Driver;
use replies::Replies;

/// Publishes events to an MQTT broker; cheap to clone. The connection closes when the last
/// clone is dropped.
#[derive(Debug)]
pub struct MqttOutbound {
    shared: Arc<Shared>,
    /// Bounds publishes awaiting the broker's acknowledgement (`inflight`).
    permits: PollSemaphore,
    /// Taken in `poll_ready`, carried by the next `call`.
    permit: Option<OwnedSemaphorePermit>,
}

/// What every clone shares.
#[derive(Debug)]
struct Shared {
    name: String,
    template: TopicTemplate,
    qos: u8,
    retain: bool,
    mode: MqttMode,
    max_packet_size: u32,
    confirm_timeout: Duration,
    client: Client,
    correlator: Arc<Mutex<Correlator>>,
    connected: watch::Receiver<bool>,
    /// Where requests' replies come back (MQTT 5 only).
    replies: Option<Arc<Replies>>,
    /// Stops the connection task when the last clone goes.
    _driver: DropGuard,
}

/// A validated MQTT outbound, not yet connected (see [`Outbound`]).
#[derive(Debug)]
pub struct MqttOutboundPlan {
    name: String,
    config: MqttOutboundConfig,
    settings: Settings,
    template: TopicTemplate,
}

impl Outbound for MqttOutboundPlan {
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink {
        BoxCloneSyncService::new(self.connect(ctx.ready))
    }
}

impl MqttOutboundPlan {
    /// Starts connecting to the broker in a background task; must be called inside a tokio
    /// runtime. Returns at once: until the connection is up, deliveries fail as unavailable
    /// and `ready` stays false ([`MqttOutbound::connected`] waits for it).
    pub fn connect(self, ready: ReadinessCheck) -> MqttOutbound {
        let Self {
            name,
            config,
            settings,
            template,
        } = self;
        let (client, events) = connection::open(&settings);
        let replies = (settings.version == MqttVersion::V5).then(|| {
            let topic = config
                .reply_topic
                .clone()
                .unwrap_or_else(|| format!("switchyard/replies/{}", settings.client_id));
            Arc::new(Replies::new(&name, topic, config.max_pending_replies))
        });
        let driver = start_driver(
            &name,
            &config,
            events,
            (client.clone(), replies.clone()),
            ready,
        );
        let shared = Shared {
            name,
            template,
            qos: config.qos,
            retain: config.retain,
            mode: config.effective_mode(),
            max_packet_size: config.max_packet_size,
            confirm_timeout: Duration::from_millis(config.confirm_timeout_ms),
            client,
            correlator: driver.correlator,
            connected: driver.connected,
            replies,
            _driver: driver.stop.drop_guard(),
        };
        let permits = Arc::new(Semaphore::new(usize::from(config.inflight)));
        MqttOutbound {
            shared: Arc::new(shared),
            permits: PollSemaphore::new(permits),
            permit: None,
        }
    }
}

impl MqttOutbound {
    /// Compiles `config` (errors name keys under `outbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &MqttOutboundConfig) -> Result<MqttOutboundPlan, Vec<String>> {
        let errors = config.validate(&format!("outbounds.{name}"));
        if !errors.is_empty() {
            return Err(errors);
        }
        let address = BrokerAddress::parse(&config.url).map_err(|e| vec![e])?;
        let template = TopicTemplate::parse(&config.topic).map_err(|e| vec![e])?;
        Ok(MqttOutboundPlan {
            name: name.to_owned(),
            config: config.clone(),
            settings: settings(name, config, address),
            template,
        })
    }

    /// [`build`](Self::build), then [`connect`](MqttOutboundPlan::connect).
    pub fn connect(
        name: &str,
        config: &MqttOutboundConfig,
        ready: ReadinessCheck,
    ) -> Result<MqttOutbound, Vec<String>> {
        Ok(Self::build(name, config)?.connect(ready))
    }

    /// Whether the connection to the broker is up.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Waits until the connection to the broker is up.
    pub async fn connected(&self) {
        let mut connected = self.shared.connected.clone();
        // Fails only if the connection task is gone, which cannot happen while we exist.
        let _ = connected.wait_for(|up| *up).await;
    }
}

/// The handles to a running connection task.
struct DriverHandles {
    correlator: Arc<Mutex<Correlator>>,
    connected: watch::Receiver<bool>,
    stop: CancellationToken,
}

/// Spawns the task that drives the connection.
fn start_driver(
    name: &str,
    config: &MqttOutboundConfig,
    events: EventLoop,
    (client, replies): (Client, Option<Arc<Replies>>),
    ready: ReadinessCheck,
) -> DriverHandles {
    let correlator = Arc::new(Mutex::new(Correlator::default()));
    let (connected_tx, connected) = watch::channel(false);
    ready.set(false);
    let driver = Driver {
        outbound: name.to_owned(),
        events,
        client,
        correlator: correlator.clone(),
        replies,
        ready,
        connected: connected_tx,
        reconnect: config.reconnect.resolve(RECONNECT).backoff(),
    };
    let stop = CancellationToken::new();
    tokio::spawn(driver.run(stop.clone()));
    DriverHandles {
        correlator,
        connected,
        stop,
    }
}

/// A clean session: nothing the outbound sends needs to outlive its connection, because
/// whatever was in flight when it dropped is failed back to its source.
fn settings(name: &str, config: &MqttOutboundConfig, address: BrokerAddress) -> Settings {
    Settings {
        outgoing_inflight: config.inflight,
        // One slot per permit, and room for the odd extra (a delivery that timed out frees its
        // permit while its publish may still be queued; beyond this, deliveries fail fast).
        request_capacity: usize::from(config.inflight) + 16,
        ..config.link().settings(address, config.client_id_for(name))
    }
}

impl Clone for MqttOutbound {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            permits: self.permits.clone(),
            permit: None,
        }
    }
}

impl Service<Event> for MqttOutbound {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.permit.is_none() {
            // Waits at most about `confirm_timeout`: every permit holder finishes by then.
            match std::task::ready!(self.permits.poll_acquire(cx)) {
                Some(permit) => self.permit = Some(permit),
                None => return Poll::Ready(Err(unavailable(&self.shared.name, "outbound closed"))),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let permit = self.permit.take();
        let shared = self.shared.clone();
        Box::pin(async move {
            let result = shared.publish(event).await;
            drop(permit);
            shared.count(&result);
            result
        })
    }
}

impl Shared {
    async fn publish(&self, mut event: Event) -> Result<(), BoxError> {
        // `{topic}` in the outbound's template means the topic the route delivers to.
        event.origin.topic = event.topic.clone();
        let topic = self
            .template
            .render(&event)
            .map_err(|e| rejected(&self.name, format!("topic template: {e}")))?;
        let mut encoded = convert::encode(&event.cloud, self.mode)
            .map_err(|e| rejected(&self.name, e.to_string()))?;
        // A request waits for its reply under its own Correlation Data once the broker took it.
        let request = match (&event.reply, &self.replies) {
            (None, _) => None,
            (Some(_), Some(replies)) => Some(replies.ask(&self.client, &mut encoded)?),
            (Some(_), None) => {
                return Err(rejected(
                    &self.name,
                    "MQTT 3.1.1 cannot carry a request: it has no Response Topic",
                ));
            }
        };
        let size = encoded.packet_size(&topic);
        if size > self.max_packet_size as usize {
            let max = self.max_packet_size;
            return Err(rejected(
                &self.name,
                EncodeError::TooLarge { size, max }.to_string(),
            ));
        }
        let confirmation = self
            .correlator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .submit(size, || {
                self.client
                    .try_publish(&topic, self.qos, self.retain, encoded)
            })
            .map_err(|failure| self.failure(failure))?;
        match tokio::time::timeout(self.confirm_timeout, confirmation).await {
            Ok(Ok(Ok(()))) => match (request, &event.reply) {
                (Some(request), Some(reply_to)) => Ok(request.forward(reply_to).await?),
                _ => Ok(()),
            },
            Ok(Ok(Err(failure))) => Err(self.failure(failure)),
            Ok(Err(_)) => Err(unavailable(&self.name, "the connection task stopped")),
            Err(_) => Err(Box::new(DeliveryError::Timeout {
                sink: self.name.clone(),
                timeout: self.confirm_timeout,
            })),
        }
    }

    /// `switchyard_outbound_attempts_total{outbound, result}`, as the webhook counts.
    fn count(&self, result: &Result<(), BoxError>) {
        let result = result.as_ref().map(|_| ());
        count_attempt(
            &self.name,
            result.map_err(|e| DeliveryError::find(e.as_ref())),
        );
    }

    fn failure(&self, failure: Failure) -> BoxError {
        match failure {
            Failure::Unavailable(reason) => unavailable(&self.name, reason),
            Failure::Busy(reason) => unavailable(
                &self.name,
                format!("the broker refused the publish: {reason}"),
            ),
            Failure::Refused(reason) => rejected(
                &self.name,
                format!("the broker refused the publish: {reason}"),
            ),
            Failure::TooLarge { size, max } => rejected(
                &self.name,
                EncodeError::TooLargeForBroker { size, max }.to_string(),
            ),
        }
    }
}
