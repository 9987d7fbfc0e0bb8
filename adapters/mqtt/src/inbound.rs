//! The MQTT inbound: subscribes, delivers each message through the pipeline, and acknowledges
//! it to the broker only once the pipeline confirmed it (or it was dead-lettered), in the
//! order the messages arrived. Unacknowledged QoS 1/2 messages stay with the broker's
//! persistent session and come back after a reconnect or a restart: at-least-once delivery.
//!
//! Two tasks share the work: the [`poller`] drives the connection (and nothing else, since
//! rumqttc must be polled continuously), the [`dispatcher`] runs deliveries and sends acks.
//! They meet in a bounded channel (messages) and a watch channel (the [`Session`]).
//!
//! Metric: `switchyard_inbound_messages_total{inbound, outcome}`, outcome one of `acked`
//! (delivered), `dead_lettered` (refused for good, taken by the dead-letter sink),
//! `undecodable` (not a valid CloudEvent, taken by the dead-letter sink), `dropped` (either
//! of those without a dead-letter sink to take it: logged and acknowledged), `retried` (one
//! per failed attempt that will be retried) and `abandoned` (left unacknowledged at shutdown
//! or because the broker redelivers it).

mod ack_queue;
mod delivery;
mod dispatcher;
mod poller;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;
use switchyard_core::pipeline::{Pipeline, Sink};

use crate::backoff::Backoff;
use crate::config::{BrokerAddress, MqttInboundConfig};
use crate::connection::{self, Client, Message, Settings};
use crate::convert::Wrapper;
use delivery::Delivery;
use dispatcher::Dispatcher;
use poller::Poller;

/// How long the poller may take to write our DISCONNECT at shutdown.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection as the dispatcher needs to know it; the poller publishes changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Session {
    /// Counts connections: messages are acknowledged only on the one they arrived on.
    generation: u64,
    connected: bool,
    /// The broker resumed the session (so it redelivers what earlier connections left
    /// unacknowledged).
    resumed: bool,
}

/// A message and the connection it arrived on.
#[derive(Debug)]
struct Arrival {
    generation: u64,
    message: Message,
}

/// Runs the inbound `name` until `shutdown` is cancelled: connects (and reconnects), and
/// delivers every message through `pipeline`. Messages that can never be delivered go to
/// `dead_letter`, or are dropped with a warning without one. `ready` reflects whether the
/// inbound is connected and subscribed.
///
/// On shutdown it stops taking messages, lets deliveries under way finish (and be
/// acknowledged) for `shutdown_grace_ms`, then disconnects. Invalid settings are logged as
/// errors and the inbound does not start; check them first with
/// [`MqttInboundConfig::validate`].
pub async fn run(
    name: Arc<str>,
    config: MqttInboundConfig,
    pipeline: Pipeline,
    dead_letter: Option<Sink>,
    ready: ReadinessCheck,
    shutdown: CancellationToken,
) {
    ready.set(false);
    let (settings, wrapper) = match prepare(&name, &config) {
        Ok(prepared) => prepared,
        Err(errors) => {
            for error in errors {
                tracing::error!(inbound = %name, %error, "invalid MQTT inbound settings; not starting");
            }
            return;
        }
    };
    let inflight = usize::from(config.inflight);
    let (client, events) = connection::open(&settings);
    let (session_tx, session_rx) = watch::channel(Session::default());
    let (arrival_tx, arrival_rx) = mpsc::channel(inflight);
    let poller = Poller {
        inbound: name.clone(),
        events,
        client: client.clone(),
        filters: config.subscribe.clone(),
        qos: config.qos,
        arrivals: arrival_tx,
        session: session_tx,
        ready: ready.clone(),
        reconnect: Backoff::new(&config.reconnect),
        shutdown: shutdown.clone(),
    };
    let stop_polling = CancellationToken::new();
    let poller = tokio::spawn(poller.run(stop_polling.clone()));
    let delivery = Arc::new(Delivery {
        inbound: name.clone(),
        pipeline,
        dead_letter,
        wrapper,
        max_payload: config.max_packet_size as usize,
        retry: config.retry.clone(),
    });
    let dispatcher = Dispatcher::new(client.clone(), delivery, arrival_rx, session_rx, inflight);
    dispatcher
        .run(&shutdown, Duration::from_millis(config.shutdown_grace_ms))
        .await;
    ready.set(false);
    disconnect(&client, poller, &stop_polling).await;
    tracing::info!(inbound = %name, "MQTT inbound stopped");
}

/// Turns the settings into connection settings and the compiled wrap templates.
fn prepare(name: &str, config: &MqttInboundConfig) -> Result<(Settings, Wrapper), Vec<String>> {
    let errors = config.validate(&format!("inbounds.{name}"));
    if !errors.is_empty() {
        return Err(errors);
    }
    let address = BrokerAddress::parse(&config.url).map_err(|e| vec![e])?;
    let wrapper = Wrapper::compile(&config.wrap, &address.to_string()).map_err(|errors| {
        errors
            .into_iter()
            .map(|(key, e)| format!("wrap.{key}: {e}"))
            .collect::<Vec<_>>()
    })?;
    let inflight = usize::from(config.inflight);
    let settings = Settings {
        address,
        client_id: config.client_id_for(name),
        version: config.version,
        keep_alive: Duration::from_secs(config.keep_alive_s.into()),
        clean_start: config.clean_start,
        session_expiry_s: config.session_expiry_s,
        max_packet_size: config.max_packet_size,
        receive_maximum: Some(config.inflight),
        // The inbound publishes nothing; rumqttc needs at least one slot.
        outgoing_inflight: 1,
        manual_acks: true,
        credentials: config
            .username
            .clone()
            .map(|user| (user, config.password.clone().unwrap_or_default())),
        // Room for every ack that can be pending at once (one per permit, plus the messages
        // the channel holds) and a few subscribes: an ack must never find it full, since the
        // dispatcher would then have to wait for the poller, which may be waiting for it.
        request_capacity: 2 * inflight + 16,
    };
    Ok((settings, wrapper))
}

/// Sends DISCONNECT (after the acks already queued) and waits for the poller to write it;
/// stops the poller outright if that takes too long (e.g. while reconnecting).
async fn disconnect(
    client: &Client,
    mut poller: tokio::task::JoinHandle<()>,
    stop: &CancellationToken,
) {
    if client.try_disconnect().is_ok()
        && tokio::time::timeout(DISCONNECT_TIMEOUT, &mut poller)
            .await
            .is_ok()
    {
        return;
    }
    stop.cancel();
    if let Err(error) = poller.await {
        tracing::error!(%error, "the MQTT inbound's poller failed");
    }
}
