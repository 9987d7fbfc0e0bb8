//! The AMQP inbound: consumes one queue and hands each message to the pipeline, acking it
//! only once the pipeline's sinks confirmed (at-least-once, reliability.md 3.3 P3).
//!
//! # Reconnecting
//!
//! We run our own reconnect loop instead of lapin's auto-recovery: each attempt builds
//! everything from scratch (connection, channel, `basic.qos`, topology, consumer), paced by
//! capped, jittered exponential backoff. That keeps the state after an outage obvious (a new
//! session, new delivery tags, unacked messages redelivered by the broker) and puts the
//! readiness flag, logging and backoff in one place, where recovery would replay state behind
//! our back and leave stale ackers to untangle (lapin#434). A session ends when the
//! connection reports an error (`Connection::events_listener`), when the consumer stream ends
//! (the broker cancelled it, e.g. the queue was deleted), or on shutdown.
//!
//! # Concurrency
//!
//! Each delivery is handled in its own task. The broker never has more than `prefetch`
//! unacknowledged messages out, and a message is settled only when its task ends, so
//! `prefetch` bounds the tasks too: no extra semaphore is needed.

mod delivery;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;
use switchyard_core::inbound::{Inbound, InboundContext};

use crate::config::AmqpInboundConfig;
use crate::connection::topology;
use crate::connection::{self, Events};
use crate::connection::{STABLE, reconnect_backoff};
use crate::convert::Wrapper;
use crate::error::{SetupError, short_string};
use delivery::Delivery;
use switchyard_core::backoff::Backoff;

/// Longest a connect-and-declare attempt may take: a silent partition must not hang it.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs until `ctx.shutdown` is cancelled: consumes the queue, delivers each message through
/// the pipeline, and settles it by the answer (ack, requeue after a delay, or dead-letter:
/// into the dead-letter sink if given, else rejected to the queue's dead-letter exchange).
/// Readiness is true while a consumer is running.
///
/// On shutdown the consumer is cancelled first, then messages already in the pipeline are
/// finished and settled (a pending requeue delay is cut short) before the connection is
/// closed.
async fn run(inbound: AmqpInbound, ctx: InboundContext) {
    let InboundContext {
        name,
        pipeline,
        dead_letter,
        ready,
        shutdown,
    } = ctx;
    ready.set(false);
    let AmqpInbound { config, wrapper } = inbound;
    let delivery = Arc::new(Delivery::new(
        name.clone(),
        (config.queue.clone(), wrapper),
        (pipeline, dead_letter),
        Duration::from_millis(config.requeue_delay_ms),
        shutdown.clone(),
    ));
    let mut backoff = reconnect_backoff();
    loop {
        let reason = match session(&config, &delivery, &ready, &mut backoff, &shutdown).await {
            Ok(Ended::Shutdown) => break,
            Ok(Ended::Lost(reason)) => reason,
            Err(e) => e.to_string(),
        };
        ready.set(false);
        let delay = backoff.next_delay(Duration::ZERO);
        tracing::warn!(inbound = %name, %reason, ?delay, "AMQP inbound disconnected; reconnecting");
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    ready.set(false);
}

/// Why a session ended.
enum Ended {
    Shutdown,
    Lost(String),
}

/// What one connection needs while it consumes.
struct Session {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
    events: Events,
}

/// One connection's life: set up, consume until it fails or shutdown, then tear down.
async fn session(
    config: &AmqpInboundConfig,
    delivery: &Arc<Delivery>,
    ready: &ReadinessCheck,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Result<Ended, SetupError> {
    let setup = tokio::select! {
        () = shutdown.cancelled() => return Ok(Ended::Shutdown),
        setup = tokio::time::timeout(SETUP_TIMEOUT, open(config, delivery.name())) => setup,
    };
    let mut session = setup.map_err(|_| SetupError::TimedOut {
        step: format!("connecting and declaring queue `{}`", config.queue),
        timeout: SETUP_TIMEOUT,
    })??;
    tracing::info!(inbound = %delivery.name(), queue = %config.queue, "AMQP inbound consuming");
    ready.set(true);
    let started = tokio::time::Instant::now();
    // Tasks still running when the session is lost are aborted with the set: their messages
    // cannot be acked on the dead channel and the broker redelivers them anyway, and aborting
    // keeps the work in flight bounded by prefetch across reconnects.
    let mut in_flight = JoinSet::new();
    let ended = consume(&mut session, delivery, &mut in_flight, shutdown).await;
    ready.set(false);
    if started.elapsed() >= STABLE {
        backoff.reset();
    }
    if let Ended::Shutdown = ended {
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        drain(
            &session.channel,
            &session.consumer,
            &mut in_flight,
            delivery.name(),
            grace,
        )
        .await;
    }
    connection::close(session.connection).await;
    Ok(ended)
}

async fn open(config: &AmqpInboundConfig, name: &str) -> Result<Session, SetupError> {
    let (connection, events) =
        connection::open(config.url.expose(), &format!("inbound {name}")).await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(SetupError::at("opening a channel"))?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
        .map_err(SetupError::at("setting prefetch"))?;
    if let Some(topology) = &config.topology {
        topology::declare(&channel, &config.queue, topology).await?;
    }
    let tag = config.consumer_tag.as_deref().unwrap_or_default();
    let consumer = channel
        .basic_consume(
            short_string("queue", &config.queue)?,
            short_string("consumer tag", tag)?,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(SetupError::at(format!(
            "consuming queue `{}`",
            config.queue
        )))?;
    Ok(Session {
        connection,
        channel,
        consumer,
        events,
    })
}

/// Hands deliveries to tasks until the connection fails or shutdown.
async fn consume(
    session: &mut Session,
    delivery: &Arc<Delivery>,
    in_flight: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Ended {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ended::Shutdown,
            next = session.consumer.next() => match next {
                Some(Ok(message)) => drop(in_flight.spawn(delivery.clone().handle(message))),
                Some(Err(e)) => return Ended::Lost(format!("consumer failed: {e}")),
                None => return Ended::Lost("the broker cancelled the consumer".into()),
            },
            event = session.events.next() => match event {
                Some(lapin::Event::Error(e)) => return Ended::Lost(format!("connection failed: {e}")),
                Some(other) => tracing::debug!(inbound = %delivery.name(), event = ?other, "AMQP connection event"),
                None => return Ended::Lost("connection closed".into()),
            },
            Some(joined) = in_flight.join_next() => log_panic(delivery.name(), joined),
        }
    }
}

/// Stops new deliveries, then lets the messages in flight finish and be settled for up to
/// `grace`; the rest are abandoned unsettled, and the broker redelivers them once the
/// connection closes.
async fn drain(
    channel: &Channel,
    consumer: &Consumer,
    in_flight: &mut JoinSet<()>,
    inbound: &str,
    grace: Duration,
) {
    if let Err(e) = channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
    {
        tracing::debug!(error = %e, "cancelling the consumer failed; closing anyway");
    }
    let settled = tokio::time::timeout(grace, async {
        while let Some(joined) = in_flight.join_next().await {
            log_panic(inbound, joined);
        }
    });
    if settled.await.is_err() {
        tracing::info!(%inbound, unsettled = in_flight.len(),
            "shutdown grace period over; unsettled messages are left for the broker to redeliver");
        in_flight.shutdown().await;
    }
}

fn log_panic(inbound: &str, joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!(%inbound, error = %e, "message handler panicked; the broker will redeliver");
    }
}

/// A validated AMQP inbound: the only way to run one (see [`Inbound`]).
#[derive(Debug)]
pub struct AmqpInbound {
    config: AmqpInboundConfig,
    wrapper: Wrapper,
}

impl AmqpInbound {
    /// Compiles `config` (errors name keys under `inbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &AmqpInboundConfig) -> Result<Self, Vec<String>> {
        let errors = config.validate(&format!("inbounds.{name}"));
        if !errors.is_empty() {
            return Err(errors);
        }
        let wrapper =
            Wrapper::new(&config.wrap).map_err(|e| vec![format!("inbounds.{name}.wrap: {e}")])?;
        Ok(Self {
            config: config.clone(),
            wrapper,
        })
    }
}

impl Inbound for AmqpInbound {
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()> {
        Box::pin(run(*self, ctx))
    }
}
