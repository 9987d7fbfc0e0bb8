//! The MQTT inbound: subscribes, delivers each message through the pipeline, and acknowledges
//! it to the broker only once the pipeline confirmed it (or it was dead-lettered), in the
//! order the messages arrived. Unacknowledged QoS 1 messages stay with the broker's persistent
//! session and come back after a reconnect or a restart: at-least-once delivery.
//!
//! Two tasks share the work: the poller (`inbound/poller.rs`) drives the connection and
//! nothing else, since rumqttc must be polled continuously; the dispatcher
//! (`inbound/dispatcher.rs`) runs deliveries and sends acks. They meet in a bounded channel
//! (messages) and a watch channel (the connection's `Session`).
//!
//! Each message is settled by the core's settlement driver (`switchyard_core::settle`), which
//! also counts `switchyard_inbound_messages_total{inbound, outcome}`.

mod ack_queue;
mod delivery;
mod dispatcher;
mod poller;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use switchyard_core::inbound::{Inbound, InboundContext};
use switchyard_core::retry::RetryPolicy;
use switchyard_core::settle::{RetryMode, SettlementDriver};

use crate::config::{BrokerAddress, INBOUND_RETRY, MqttInboundConfig};
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

/// A validated MQTT inbound: the only way to run one (see [`Inbound`]).
#[derive(Debug)]
pub struct MqttInbound {
    config: MqttInboundConfig,
    settings: Settings,
    wrapper: Wrapper,
    retry: RetryPolicy,
}

impl MqttInbound {
    /// Compiles `config` (errors name keys under `inbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &MqttInboundConfig) -> Result<Self, Vec<String>> {
        let (settings, wrapper) = compile(name, config)?;
        Ok(Self {
            config: config.clone(),
            settings,
            wrapper,
            retry: config.retry.resolve(INBOUND_RETRY),
        })
    }

    /// Runs until `ctx.shutdown` is cancelled: connects (and reconnects), and delivers every
    /// message through the pipeline. Messages that can never be delivered go to the
    /// dead-letter sink, or are dropped with an error log without one. Readiness says whether
    /// the inbound is connected and subscribed.
    ///
    /// On shutdown it stops taking messages, lets deliveries under way finish (and be
    /// acknowledged) for `shutdown_grace_ms`, then disconnects.
    async fn run(self, ctx: InboundContext) {
        let InboundContext {
            name,
            pipeline,
            dead_letter,
            ready,
            shutdown,
        } = ctx;
        ready.set(false);
        let config = &self.config;
        let (client, events) = connection::open(&self.settings);
        let (poller_links, dispatcher_links) = links(usize::from(config.inflight));
        let poller = Poller::new(
            name.clone(),
            config,
            events,
            client.clone(),
            poller_links,
            ready.clone(),
            shutdown.clone(),
        );
        let stop_polling = CancellationToken::new();
        let poller = tokio::spawn(poller.run(stop_polling.clone()));
        let retry = RetryMode::InPlace(self.retry);
        let driver = SettlementDriver::new(name.clone(), pipeline, dead_letter, retry);
        let delivery = Delivery::new(driver, self.wrapper, config.max_packet_size as usize);
        let inflight = usize::from(config.inflight);
        let dispatcher = Dispatcher::new(
            client.clone(),
            Arc::new(delivery),
            dispatcher_links,
            inflight,
        );
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        dispatcher.run(&shutdown, grace).await;
        ready.set(false);
        disconnect(&client, poller, &stop_polling).await;
        tracing::info!(inbound = %name, "MQTT inbound stopped");
    }
}

impl Inbound for MqttInbound {
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()> {
        Box::pin((*self).run(ctx))
    }
}

/// The poller's ends of the channels between the two tasks.
#[derive(Debug)]
struct PollerLinks {
    arrivals: mpsc::Sender<Arrival>,
    session: watch::Sender<Session>,
    /// Signalled by the dispatcher while rumqttc's request queue refuses its acks.
    acks_stalled: Arc<Notify>,
}

/// The dispatcher's ends of the channels between the two tasks.
#[derive(Debug)]
struct DispatcherLinks {
    arrivals: mpsc::Receiver<Arrival>,
    session: watch::Receiver<Session>,
    acks_stalled: Arc<Notify>,
}

/// Messages flow through a channel as deep as `inflight`; the session is watched.
fn links(inflight: usize) -> (PollerLinks, DispatcherLinks) {
    let (arrivals_tx, arrivals_rx) = mpsc::channel(inflight);
    let (session_tx, session_rx) = watch::channel(Session::default());
    let acks_stalled = Arc::new(Notify::new());
    let poller = PollerLinks {
        arrivals: arrivals_tx,
        session: session_tx,
        acks_stalled: acks_stalled.clone(),
    };
    let dispatcher = DispatcherLinks {
        arrivals: arrivals_rx,
        session: session_rx,
        acks_stalled,
    };
    (poller, dispatcher)
}

/// The connection settings and the compiled wrap templates, or what is wrong with `config`.
fn compile(name: &str, config: &MqttInboundConfig) -> Result<(Settings, Wrapper), Vec<String>> {
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
        clean_start: config.clean_start,
        session_expiry_s: config.session_expiry_s,
        receive_maximum: Some(config.inflight),
        // The inbound publishes nothing; rumqttc needs at least one slot.
        outgoing_inflight: 1,
        manual_acks: true,
        // Acks wait here until the poller's next turn writes them. With a broker that honours
        // our Receive Maximum, `inflight` plus the channel's messages is the most that can
        // wait; Mosquitto 2.0.11 sends a whole new window per ack, so leave room for its
        // queue too. Entries cost memory only while used.
        request_capacity: 64 * inflight + 1024,
        ..config.link().settings(address, config.client_id_for(name))
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
