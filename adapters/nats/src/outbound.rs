//! The NATS outbound: a `tower::Service<Event>` that publishes each event on the subject its
//! template renders and answers only when the server confirmed it: for JetStream, the
//! stream's PubAck (with `Nats-Msg-Id` = the event's id, so a retried publish inside the
//! stream's duplicate window is stored once); for core NATS, the server having read it (a
//! flush). While disconnected, deliveries fail at once as `Unavailable`; an event the binding
//! or the server cannot take is `Rejected` before anything is sent.

mod subject_template;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::context::PublishErrorKind as JsPublishErrorKind;
use async_nats::{Client, PublishErrorKind, jetstream};
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tower::Service;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::ReadinessCheck;
use switchyard_core::outbound::{Outbound, OutboundContext, count_attempt};
use switchyard_core::pipeline::Sink;
use switchyard_core::{BoxError, DeliveryError};

use crate::config::{NatsMode, NatsOutboundConfig};
use crate::connection::{self, Link};
use crate::convert::{self, Encoded};
use crate::error::{EncodeError, rejected, unavailable};
pub use subject_template::SubjectTemplate;

/// A NATS outbound. Clones share one connection.
#[derive(Debug, Clone)]
pub struct NatsOutbound {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    subject: SubjectTemplate,
    mode: NatsMode,
    jetstream: bool,
    confirm_timeout: Duration,
    /// The client once the connection task made one (it then connects by itself).
    client: watch::Receiver<Option<(Client, jetstream::Context)>>,
}

/// A validated NATS outbound, not yet connected (see [`Outbound`]).
#[derive(Debug)]
pub struct NatsOutboundPlan {
    name: String,
    config: NatsOutboundConfig,
    subject: SubjectTemplate,
}

impl NatsOutbound {
    /// Compiles `config` (errors name keys under `outbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &NatsOutboundConfig) -> Result<NatsOutboundPlan, Vec<String>> {
        let errors = config.validate(&format!("outbounds.{name}"));
        if !errors.is_empty() {
            return Err(errors);
        }
        let subject = SubjectTemplate::parse(&config.subject).map_err(|e| vec![e])?;
        Ok(NatsOutboundPlan {
            name: name.to_owned(),
            config: config.clone(),
            subject,
        })
    }
}

impl Outbound for NatsOutboundPlan {
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink {
        BoxCloneSyncService::new(self.connect(ctx.ready))
    }
}

impl NatsOutboundPlan {
    /// Starts connecting in the background (inside a tokio runtime); `ready` follows the
    /// connection.
    pub fn connect(self, ready: ReadinessCheck) -> NatsOutbound {
        let (sender, client) = watch::channel(None);
        let link = Link {
            url: self.config.url.clone(),
            token: self.config.token.clone(),
            tls_ca_file: self.config.tls_ca_file.clone(),
        };
        let component = format!("outbound {}", self.name);
        tokio::spawn(async move {
            match connection::open(&link, &component, ready).await {
                Ok(opened) => {
                    let context = jetstream::new(opened.clone());
                    drop(sender.send(Some((opened, context))));
                }
                Err(error) => {
                    tracing::error!(%component, %error, "cannot set up the NATS connection")
                }
            }
        });
        NatsOutbound {
            inner: Arc::new(Inner {
                name: self.name,
                subject: self.subject,
                mode: self.config.mode,
                jetstream: self.config.jetstream,
                confirm_timeout: Duration::from_millis(self.config.confirm_timeout_ms),
                client,
            }),
        }
    }
}

impl Service<Event> for NatsOutbound {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Never waits: while disconnected, `call` fails at once instead.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let result = inner.publish(&event).await;
            count_attempt(&inner.name, result.as_ref().map(|_| ()).map_err(Some));
            result.map_err(|e| Box::new(e) as BoxError)
        })
    }
}

/// A JetStream publish of `(subject, headers, payload)` by the sink `name`, answered once the
/// stream's PubAck came: too large for the server is `TooLarge`, a failure `Unavailable`, no
/// PubAck within `timeout` a `Timeout`. The outbound and the hub backplane both publish so.
pub(crate) async fn publish_confirmed(
    context: &jetstream::Context,
    name: &str,
    (subject, headers, payload): (String, async_nats::HeaderMap, bytes::Bytes),
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let confirmed = async {
        let ack = match context
            .publish_with_headers(subject, headers, payload)
            .await
        {
            Err(e) if e.kind() == JsPublishErrorKind::MaxPayloadExceeded => {
                let max = context.client().server_info().max_payload;
                return Err(rejected(name, &EncodeError::TooLarge { max }));
            }
            ack => ack.map_err(|e| unavailable(name, e.to_string()))?,
        };
        ack.await
            .map(drop)
            .map_err(|e| unavailable(name, e.to_string()))
    };
    tokio::time::timeout(timeout, confirmed)
        .await
        .unwrap_or_else(|_| Err(timed_out(name, timeout)))
}

fn timed_out(name: &str, timeout: Duration) -> DeliveryError {
    DeliveryError::Timeout {
        sink: name.to_owned(),
        timeout,
    }
}

impl Inner {
    async fn publish(&self, event: &Event) -> Result<(), DeliveryError> {
        // Events that can never be published are refused whatever the connection's state.
        let refuse = |e: EncodeError| rejected(&self.name, &e);
        let subject = self.subject.render(event).map_err(refuse)?;
        let Encoded {
            mut headers,
            payload,
        } = convert::encode(&event.cloud, self.mode).map_err(refuse)?;
        let (client, context) = self.connected()?;
        // async-nats checks the server's max_payload (payload and headers) before sending.
        let too_large = || {
            refuse(EncodeError::TooLarge {
                max: client.server_info().max_payload,
            })
        };
        if self.jetstream {
            headers.insert(NATS_MESSAGE_ID, event.cloud.id.as_str());
            let message = (subject, headers, payload);
            return publish_confirmed(&context, &self.name, message, self.confirm_timeout).await;
        }
        let confirmed = async {
            match client.publish_with_headers(subject, headers, payload).await {
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(too_large());
                }
                sent => sent.map_err(|e| self.unavailable(e))?,
            }
            client.flush().await.map_err(|e| self.unavailable(e))
        };
        tokio::time::timeout(self.confirm_timeout, confirmed)
            .await
            .unwrap_or_else(|_| Err(timed_out(&self.name, self.confirm_timeout)))
    }

    fn unavailable(&self, error: impl std::fmt::Display) -> DeliveryError {
        unavailable(&self.name, error.to_string())
    }

    /// The client and its JetStream context (made once), while connected.
    fn connected(&self) -> Result<(Client, jetstream::Context), DeliveryError> {
        let link = self.client.borrow().clone();
        match link {
            Some((client, context)) if client.connection_state() == State::Connected => {
                Ok((client, context))
            }
            _ => Err(unavailable(&self.name, "not connected to the NATS server")),
        }
    }
}
