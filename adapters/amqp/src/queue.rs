//! A work queue backed by a RabbitMQ queue: producers publish to it (default exchange, routing
//! key = the queue, with confirms, through an [`AmqpOutbound`]); one consumer per gateway takes
//! up to `prefetch` messages, which the broker keeps unacked while consumers lease them here.
//! An ack, a requeue, a dead-letter (`basic.nack` without requeue: the queue's dead-letter
//! exchange) and an expired lease (requeued) all go back to the broker, which redelivers a
//! requeued message, to this gateway or another, marked redelivered. Nothing is lost when the
//! gateway dies: the broker requeues every unacked message when the connection drops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::watch;

use switchyard_core::health::ReadinessCheck;
use switchyard_core::queue::{Broker, QueueLimits, Settle, WorkQueue};
use switchyard_core::secret::Secret;
use switchyard_core::validation::Errors;

use crate::config::QueueConfig as Declare;
use crate::connection::{self, Events, STABLE, reconnect_backoff, topology};
use crate::convert::{self, Incoming, WrapContext, Wrapper};
use crate::error::{SetupError, short_string};
use crate::{AmqpOutbound, AmqpOutboundConfig};

/// `queues.NAME.amqp`: the RabbitMQ queue that holds the work queue's messages.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpQueueConfig {
    /// Broker URI (redacted in logs).
    pub url: Secret,
    /// The RabbitMQ queue.
    pub queue: String,
    /// Messages the broker hands this gateway ahead of its consumers' leases. Default 100.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
}

const fn default_prefetch() -> u16 {
    100
}

impl AmqpQueueConfig {
    /// Every problem, each naming its key under `path`.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errors = self.outbound().validate(path);
        let mut report = Errors::new(path);
        if self.queue.is_empty() || self.queue.starts_with("amq.") {
            report.push("queue", "must be a queue name not starting with `amq.`");
        }
        if self.prefetch == 0 {
            report.push("prefetch", "must be at least 1");
        }
        errors.extend(report.into_vec());
        errors
    }

    /// How producers publish: to the queue through the default exchange, with confirms.
    fn outbound(&self) -> AmqpOutboundConfig {
        serde_json::from_value(serde_json::json!({
            "url": self.url.expose(),
            "exchange": "",
            "routing_key": self.queue,
        }))
        .unwrap_or_else(|_| unreachable!("a fixed, valid shape"))
    }
}

/// Starts the queue's consumer and producer (inside a tokio runtime): the work queue, and the
/// sink routes deliver to. `ready` follows the consumer, `producing` the producer.
pub fn start(
    name: &str,
    config: &AmqpQueueConfig,
    limits: QueueLimits,
    (ready, producing): (ReadinessCheck, ReadinessCheck),
) -> Result<(WorkQueue, AmqpOutbound), Vec<String>> {
    let producer = AmqpOutbound::connect(&format!("queue:{name}"), &config.outbound(), producing)?;
    let (channel, current) = watch::channel(None);
    let queue = WorkQueue::backed_by(name, limits, Arc::new(Settler { channel: current }));
    let consumer = Consumer {
        queue: queue.clone(),
        config: config.clone(),
        channel,
        ready,
    };
    tokio::spawn(consumer.run());
    Ok((queue, producer))
}

/// Settles on the consumer's current channel (delivery tags belong to it).
#[derive(Debug)]
struct Settler {
    channel: watch::Receiver<Option<Channel>>,
}

impl Broker for Settler {
    fn settle(&self, tag: u64, how: Settle) -> BoxFuture<'static, Result<(), String>> {
        let channel = self.channel.borrow().clone();
        Box::pin(async move {
            let Some(channel) = channel else {
                return Err("not connected to the broker; the message will be redelivered".into());
            };
            let settled = match how {
                Settle::Ack => channel.basic_ack(tag, BasicAckOptions::default()).await,
                Settle::Requeue | Settle::DeadLetter => {
                    let requeue = how == Settle::Requeue;
                    let options = BasicNackOptions {
                        multiple: false,
                        requeue,
                    };
                    channel.basic_nack(tag, options).await
                }
            };
            settled.map_err(|e| e.to_string())
        })
    }
}

struct Consumer {
    queue: WorkQueue,
    config: AmqpQueueConfig,
    channel: watch::Sender<Option<Channel>>,
    ready: ReadinessCheck,
}

impl Consumer {
    /// Consumes for as long as the process runs, reconnecting with backoff.
    async fn run(self) {
        let mut backoff = reconnect_backoff();
        loop {
            let started = tokio::time::Instant::now();
            match self.open().await {
                Ok((connection, channel, consumer, events)) => {
                    self.channel.send_replace(Some(channel));
                    self.ready.set(true);
                    let reason = self.consume(consumer, events).await;
                    self.ready.set(false);
                    self.channel.send_replace(None);
                    // The broker requeues what this connection held; leases of it are void.
                    self.queue.forget_broker_messages();
                    connection::close(connection).await;
                    tracing::warn!(queue = %self.queue.name(), %reason, "AMQP work queue disconnected");
                }
                Err(e) => {
                    tracing::warn!(queue = %self.queue.name(), error = %e, "AMQP work queue cannot connect");
                }
            }
            if started.elapsed() >= STABLE {
                backoff.reset();
            }
            tokio::time::sleep(backoff.next_delay(Duration::ZERO)).await;
        }
    }

    async fn open(&self) -> Result<(Connection, Channel, lapin::Consumer, Events), SetupError> {
        let component = format!("queue {}", self.queue.name());
        let (connection, events) = connection::open(self.config.url.expose(), &component).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(SetupError::at("opening a channel"))?;
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await
            .map_err(SetupError::at("setting prefetch"))?;
        topology::declare_queue(&channel, &self.config.queue, &Declare::default()).await?;
        let consumer = channel
            .basic_consume(
                short_string("queue", &self.config.queue)?,
                short_string("consumer tag", "")?,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(SetupError::at(format!(
                "consuming queue `{}`",
                self.config.queue
            )))?;
        Ok((connection, channel, consumer, events))
    }

    /// Offers each delivery to the work queue until the connection fails; why it ended.
    async fn consume(&self, mut consumer: lapin::Consumer, mut events: Events) -> String {
        let wrapper = Wrapper::new(&Default::default()).ok();
        loop {
            tokio::select! {
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => self.offer(delivery, wrapper.as_ref()).await,
                    Some(Err(e)) => return format!("consumer failed: {e}"),
                    None => return "the broker cancelled the consumer".into(),
                },
                event = events.next() => match event {
                    Some(lapin::Event::Error(e)) => return format!("connection failed: {e}"),
                    Some(_) => {}
                    None => return "connection closed".into(),
                },
            }
        }
    }

    async fn offer(&self, delivery: lapin::message::Delivery, wrapper: Option<&Wrapper>) {
        let message = Incoming {
            properties: &delivery.properties,
            body: delivery.data.clone().into(),
        };
        let context = WrapContext {
            inbound: self.queue.name(),
            queue: &self.config.queue,
            exchange: delivery.exchange.as_str(),
            routing_key: delivery.routing_key.as_str(),
        };
        let decoded = wrapper
            .ok_or_else(|| "no wrapper".to_owned())
            .and_then(|w| convert::decode(&message, w, &context).map_err(|e| e.to_string()));
        match decoded {
            Ok(event) => {
                self.queue
                    .offer(event, delivery.delivery_tag, delivery.redelivered);
            }
            Err(reason) => {
                // Not an event anyone can lease: to the queue's dead-letter exchange.
                tracing::warn!(queue = %self.queue.name(), %reason, "undecodable message dead-lettered");
                let options = BasicNackOptions {
                    multiple: false,
                    requeue: false,
                };
                let _ = delivery.acker.nack(options).await;
            }
        }
    }
}
