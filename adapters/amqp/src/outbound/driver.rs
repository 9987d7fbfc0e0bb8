//! The outbound's connection task: connects, puts the channel in confirm mode, declares the
//! exchange, publishes the channel to the outbound's clones, and starts over with capped,
//! jittered backoff whenever the connection or channel dies. It ends, closing the connection,
//! when the last clone of the outbound is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionStatus};
use tokio::sync::{Notify, watch};

use switchyard_core::health::ReadinessCheck;

use crate::config::ExchangeConfig;
use crate::connection::topology;
use crate::connection::{self, Events};
use crate::connection::{STABLE, reconnect_backoff};
use crate::error::SetupError;

/// Longest a connect-and-declare attempt may take: a silent partition must not hang it.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// What publishers need of the current connection.
#[derive(Clone)]
pub(super) struct Link {
    /// In confirm mode.
    pub(super) channel: Channel,
    /// The largest frame the broker accepts on this connection (negotiated at connect): a
    /// larger content header would make the broker close the connection.
    pub(super) frame_max: u32,
    status: ConnectionStatus,
}

impl Link {
    /// Whether the broker told us to stop publishing (`connection.blocked`, a resource alarm).
    pub(super) fn blocked(&self) -> bool {
        self.status.blocked()
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("channel", &self.channel.id())
            .field("frame_max", &self.frame_max)
            .finish_non_exhaustive()
    }
}

/// The connection task's state.
pub(super) struct Driver {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) declare: Option<ExchangeConfig>,
    pub(super) ready: ReadinessCheck,
    /// Where the current link is published; closed when every outbound clone is gone.
    pub(super) sender: watch::Sender<Option<Link>>,
    /// Notified by publishers whose publish failed, so a dead channel is noticed.
    pub(super) publish_failed: Arc<Notify>,
    /// Consumed on every channel, so requests' replies come back.
    pub(super) replies: Arc<super::Replies>,
}

/// One connection.
struct Session {
    connection: Connection,
    channel: Channel,
    events: Events,
}

impl Driver {
    pub(super) async fn run(self) {
        let mut backoff = reconnect_backoff();
        loop {
            let opened = tokio::select! {
                () = self.sender.closed() => return,
                opened = tokio::time::timeout(SETUP_TIMEOUT, self.open()) => opened,
            };
            match opened {
                Ok(Ok(mut session)) => {
                    let started = tokio::time::Instant::now();
                    let lost = self.serve(&mut session).await;
                    self.sender.send_replace(None);
                    self.ready.set(false);
                    connection::close(session.connection).await;
                    if started.elapsed() >= STABLE {
                        backoff.reset();
                    }
                    let Some(reason) = lost else { return };
                    tracing::warn!(outbound = %self.name, %reason, "AMQP outbound disconnected");
                }
                Ok(Err(e)) => {
                    tracing::warn!(outbound = %self.name, error = %e, "AMQP outbound cannot connect")
                }
                Err(_) => {
                    tracing::warn!(outbound = %self.name, timeout = ?SETUP_TIMEOUT, "AMQP outbound: connecting timed out")
                }
            }
            let delay = backoff.next_delay(Duration::ZERO);
            tracing::debug!(outbound = %self.name, ?delay, "reconnecting after a delay");
            tokio::select! {
                () = self.sender.closed() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn open(&self) -> Result<Session, SetupError> {
        let (connection, events) =
            connection::open(&self.url, &format!("outbound {}", self.name)).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(SetupError::at("opening a channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(SetupError::at("enabling publisher confirms"))?;
        if let Some(exchange) = &self.declare {
            topology::declare_exchange(&channel, exchange).await?;
        }
        self.replies.listen(&channel).await?;
        Ok(Session {
            connection,
            channel,
            events,
        })
    }

    /// Publishes the link and watches it; returns why it was lost, or `None` when the
    /// outbound was dropped.
    async fn serve(&self, session: &mut Session) -> Option<String> {
        let status = session.connection.status().clone();
        self.sender.send_replace(Some(Link {
            channel: session.channel.clone(),
            frame_max: session.connection.configuration().frame_max(),
            status,
        }));
        self.ready.set(true);
        tracing::info!(outbound = %self.name, "AMQP outbound connected");
        loop {
            tokio::select! {
                () = self.sender.closed() => return None,
                event = session.events.next() => match event {
                    Some(lapin::Event::Error(e)) => return Some(format!("connection failed: {e}")),
                    Some(lapin::Event::ConnectionBlocked(reason)) => {
                        tracing::warn!(outbound = %self.name, %reason, "broker blocks publishing");
                        self.ready.set(false);
                    }
                    Some(lapin::Event::ConnectionUnblocked) => self.ready.set(true),
                    Some(_) => {}
                    None => return Some("connection closed".into()),
                },
                () = self.publish_failed.notified() => {
                    // A broker error (e.g. a missing exchange) closes the channel but not the
                    // connection; nothing else reports it.
                    if !session.channel.status().connected() || !session.connection.status().connected() {
                        return Some("the broker closed the channel".into());
                    }
                }
            }
        }
    }
}
