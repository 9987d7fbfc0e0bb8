//! The AMQP outbound: a `tower::Service<Event>` that publishes each event to an exchange and
//! answers only when the broker confirmed it (publisher confirms), so a source acks or
//! answers 2xx only for events the broker has taken (reliability.md 3.3 P1, P5).
//!
//! A background task owns the connection (`outbound/link.rs`) and hands the current
//! confirm-mode channel to publishers through a `watch`. While there is none, publishing fails
//! at once with `Unavailable` rather than queueing: the source backs off and retries, and
//! memory stays bounded.
//!
//! Events the broker could never take are refused (`Rejected`) before anything is sent: a
//! routing key over 255 bytes, and attributes too large for one content header frame
//! (`outbound/content_header.rs`), which RabbitMQ would answer by closing the connection.

mod content_header;
mod driver;
mod replies;
mod routing_key;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lapin::Confirmation;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use tokio::sync::{Notify, watch};
use tower::Service;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::ReadinessCheck;
use switchyard_core::outbound::{Outbound, OutboundContext, count_attempt};
use switchyard_core::pipeline::Sink;
use switchyard_core::{BoxError, DeliveryError};

use crate::config::AmqpOutboundConfig;
use crate::convert::{self, EncodeOptions};
use crate::error::short_string;
use driver::Link;
pub use replies::DIRECT_REPLY_TO;
use replies::Replies;
pub(crate) use routing_key::RoutingKeyTemplate;

/// What publishers are told to wait before retrying while the broker is away.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// An AMQP outbound. Clones share one connection; the connection task ends when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct AmqpOutbound {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    exchange: ShortString,
    routing_key: RoutingKeyTemplate,
    encode: EncodeOptions,
    mandatory: bool,
    confirm_timeout: Duration,
    /// The current channel, `None` while disconnected. Dropping the last receiver (with the
    /// last clone) tells the connection task to close the connection and end.
    link: watch::Receiver<Option<Link>>,
    /// Wakes the connection task when a publish failed, to check whether the channel died.
    publish_failed: Arc<Notify>,
    /// Where requests' replies come back.
    replies: Arc<Replies>,
}

/// A validated AMQP outbound, not yet connected (see [`Outbound`]).
#[derive(Debug)]
pub struct AmqpOutboundPlan {
    name: String,
    config: AmqpOutboundConfig,
    routing_key: RoutingKeyTemplate,
    exchange: ShortString,
    replies: Arc<Replies>,
}

impl Outbound for AmqpOutboundPlan {
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink {
        BoxCloneSyncService::new(self.connect(ctx.ready))
    }
}

impl AmqpOutboundPlan {
    /// Starts connecting in the background (inside a tokio runtime); `ready` follows the
    /// connection.
    pub fn connect(self, ready: ReadinessCheck) -> AmqpOutbound {
        ready.set(false);
        let (sender, receiver) = watch::channel(None);
        let publish_failed = Arc::new(Notify::new());
        let task = driver::Driver {
            name: self.name.clone(),
            url: self.config.url.expose().to_owned(),
            declare: self.config.declare.clone(),
            ready,
            sender,
            publish_failed: publish_failed.clone(),
            replies: self.replies.clone(),
        };
        tokio::spawn(task.run());
        AmqpOutbound {
            inner: Arc::new(Inner::new(self, receiver, publish_failed)),
        }
    }
}

impl AmqpOutbound {
    /// Compiles `config` (errors name keys under `outbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &AmqpOutboundConfig) -> Result<AmqpOutboundPlan, Vec<String>> {
        let errors = config.validate(&format!("outbounds.{name}"));
        if !errors.is_empty() {
            return Err(errors);
        }
        Self::plan(name, config)
    }

    /// The runtime values of a validated config.
    fn plan(name: &str, config: &AmqpOutboundConfig) -> Result<AmqpOutboundPlan, Vec<String>> {
        let routing_key = RoutingKeyTemplate::parse(&config.routing_key)
            .map_err(|e| vec![format!("routing_key: {e}")])?;
        let exchange = short_string("exchange", &config.exchange)
            .map_err(|e| vec![format!("exchange: {e}")])?;
        let replies = Replies::new(name, &config.reply_to, config.max_pending_replies)
            .map_err(|e| vec![format!("reply_to: {e}")])?;
        Ok(AmqpOutboundPlan {
            name: name.to_owned(),
            config: config.clone(),
            routing_key,
            exchange,
            replies: Arc::new(replies),
        })
    }

    /// Validates `config` and starts connecting in the background; `ready` follows the
    /// connection. Errors name the offending key relative to the outbound (`url: ...`).
    /// Needs a tokio runtime: outside one this is an error, not a panic.
    pub fn connect(
        name: &str,
        config: &AmqpOutboundConfig,
        ready: ReadinessCheck,
    ) -> Result<Self, Vec<String>> {
        ready.set(false);
        let mut errors = config.validate("");
        if tokio::runtime::Handle::try_current().is_err() {
            errors.push("AmqpOutbound::connect must be called inside a tokio runtime".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self::plan(name, config)?.connect(ready))
    }
}

impl Service<Event> for AmqpOutbound {
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

impl Inner {
    fn new(
        plan: AmqpOutboundPlan,
        link: watch::Receiver<Option<Link>>,
        publish_failed: Arc<Notify>,
    ) -> Self {
        let AmqpOutboundPlan {
            name,
            config,
            routing_key,
            exchange,
            replies,
        } = plan;
        Self {
            name,
            exchange,
            routing_key,
            encode: EncodeOptions {
                mode: config.mode,
                prefix: config.header_prefix,
                persistent: config.persistent,
            },
            mandatory: config.mandatory,
            confirm_timeout: Duration::from_millis(config.confirm_timeout_ms),
            link,
            publish_failed,
            replies,
        }
    }

    async fn publish(&self, event: &Event) -> Result<(), DeliveryError> {
        // Events that can never be published are refused whatever the connection's state.
        let routing_key = self
            .routing_key
            .render(event)
            .map_err(|e| self.rejected(e))?;
        let message = convert::encode(&event.cloud, self.encode).map_err(|e| self.rejected(e))?;
        let link = self.current_link()?;
        // `frame_max` is negotiated per connection, so this check comes once there is one.
        content_header::check_fits(&message.properties, link.frame_max)
            .map_err(|e| self.rejected(e))?;
        let options = BasicPublishOptions {
            mandatory: self.mandatory,
            immediate: false,
        };
        // A request waits for its reply under its own correlation id once the broker took it.
        let (request, properties) = match &event.reply {
            Some(_) => {
                let (registration, properties) = self.replies.ask(message.properties)?;
                (Some(registration), properties)
            }
            None => (None, message.properties),
        };
        let confirmed = async {
            link.channel
                .basic_publish(
                    self.exchange.clone(),
                    routing_key.clone(),
                    options,
                    &message.body,
                    properties,
                )
                .await?
                .await
        };
        match tokio::time::timeout(self.confirm_timeout, confirmed).await {
            Err(_) => Err(DeliveryError::Timeout {
                sink: self.name.clone(),
                timeout: self.confirm_timeout,
            }),
            Ok(Err(e)) => {
                self.publish_failed.notify_one();
                Err(self.unavailable(format!("publish failed: {e}")))
            }
            Ok(Ok(confirmation)) => {
                self.confirmed(confirmation, &routing_key)?;
                match (request, &event.reply) {
                    (Some(request), Some(reply_to)) => request.forward(reply_to).await,
                    _ => Ok(()),
                }
            }
        }
    }

    /// The channel to publish on, or why there is none to use right now.
    fn current_link(&self) -> Result<Link, DeliveryError> {
        let link = self.link.borrow().clone();
        let Some(link) = link else {
            return Err(self.unavailable("not connected to the broker"));
        };
        if link.blocked() {
            // A resource alarm: publishes would hang until the confirm timeout.
            return Err(self.unavailable("the broker is blocking publishers (resource alarm)"));
        }
        Ok(link)
    }

    fn confirmed(
        &self,
        confirmation: Confirmation,
        routing_key: &ShortString,
    ) -> Result<(), DeliveryError> {
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            // With `mandatory`, the broker returns a message no queue is bound for, then
            // confirms it: it was not stored anywhere.
            Confirmation::Ack(Some(returned)) => Err(self.rejected(format!(
                "unroutable: no queue bound for routing key `{routing_key}` on exchange `{}` ({} {})",
                self.exchange, returned.reply_code, returned.reply_text
            ))),
            Confirmation::Nack(_) => Err(self.unavailable("the broker could not store the message (nack)")),
            Confirmation::NotRequested => Err(self.unavailable("the channel is not in confirm mode")),
        }
    }

    fn rejected(&self, reason: impl ToString) -> DeliveryError {
        DeliveryError::Rejected {
            sink: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn unavailable(&self, reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Unavailable {
            sink: self.name.clone(),
            reason: reason.into(),
            retry_after: Some(RETRY_AFTER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_sink() {
        fn sink<S>()
        where
            S: Service<Event, Response = (), Error = BoxError> + Clone + Send + Sync + 'static,
            S::Future: Send,
        {
        }
        sink::<AmqpOutbound>();
    }

    #[test]
    fn connecting_outside_a_runtime_is_an_error() {
        let config: AmqpOutboundConfig = serde_json::from_value(serde_json::json!({
            "url": "amqp://localhost", "exchange": "x", "routing_key": "a.#"
        }))
        .expect("valid shape");
        let readiness = switchyard_core::health::Readiness::default();
        let errors =
            AmqpOutbound::connect("o", &config, readiness.register("o")).expect_err("fails");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("routing_key: "), "{errors:?}");
    }
}
