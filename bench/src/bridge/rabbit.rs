//! RabbitMQ with lapin: the benchmark's own exchange and queue (unique names, deleted at the
//! end), the bare publisher with a fixed confirm window (the S1 baseline), an open-loop
//! publisher and a consumer for the latency paths.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::record::{self, Recorder};

/// Time allowed for connecting and for each administrative request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one publish to be confirmed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// The benchmark queue deletes itself this long after its last use if a run dies before
/// cleaning up; its exchange is auto-delete, so it goes with the queue's binding.
const QUEUE_EXPIRES_MS: i64 = 600_000;
/// The routing key of every message and of the queue's binding.
pub const ROUTING_KEY: &str = "k";

/// Connects, bounded by [`ADMIN_TIMEOUT`].
pub async fn connect(url: &str) -> Result<Connection> {
    let connecting = Connection::connect(url, ConnectionProperties::default());
    tokio::time::timeout(ADMIN_TIMEOUT, connecting)
        .await
        .with_context(|| format!("RabbitMQ at {url} did not answer within {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("cannot connect to RabbitMQ at {url}"))
}

/// A channel in confirm mode.
pub async fn confirm_channel(connection: &Connection) -> Result<Channel> {
    let channel = bounded("open a channel", connection.create_channel()).await?;
    bounded(
        "confirm.select",
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;
    Ok(channel)
}

async fn bounded<T, E>(what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(ADMIN_TIMEOUT, fut)
        .await
        .with_context(|| format!("{what} timed out after {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("{what} failed"))
}

/// The benchmark's exchange and queue on an administrative connection.
#[derive(Debug)]
pub struct Topology {
    connection: Connection,
    channel: Channel,
    pub exchange: String,
    pub queue: String,
}

impl Topology {
    /// Declares a durable direct exchange and a durable classic queue bound to it with
    /// [`ROUTING_KEY`].
    pub async fn declare(url: &str, tag: &str) -> Result<Self> {
        let connection = connect(url).await?;
        let channel = bounded("open a channel", connection.create_channel()).await?;
        let exchange = format!("switchyard-bench-x-{tag}");
        let queue = format!("switchyard-bench-q-{tag}");
        let options = ExchangeDeclareOptions {
            durable: true,
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        bounded(
            "exchange.declare",
            channel.exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                options,
                FieldTable::default(),
            ),
        )
        .await?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("classic".into()),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        bounded(
            "queue.declare",
            channel.queue_declare(queue.as_str().into(), options, arguments),
        )
        .await?;
        bounded(
            "queue.bind",
            channel.queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                ROUTING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Self {
            connection,
            channel,
            exchange,
            queue,
        })
    }

    /// Empties the queue; returns how many messages it held.
    pub async fn purge(&self) -> Result<u32> {
        bounded(
            "queue.purge",
            self.channel
                .queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default()),
        )
        .await
    }

    /// Takes one message from the queue: its body, its properties and a description of its
    /// layout (body size, headers).
    pub async fn sample_one(&self) -> Result<Option<Sample>> {
        let got = bounded(
            "basic.get",
            self.channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true }),
        )
        .await?;
        Ok(got.map(|message| {
            let delivery = message.delivery;
            let props = &delivery.properties;
            let mut names: Vec<String> = props
                .headers()
                .as_ref()
                .map(|h| h.inner().keys().map(|k| k.to_string()).collect())
                .unwrap_or_default();
            names.sort();
            let header_bytes: usize = props
                .headers()
                .as_ref()
                .map(|h| {
                    h.inner()
                        .iter()
                        .map(|(k, v)| k.as_str().len() + value_len(v))
                        .sum()
                })
                .unwrap_or_default();
            let description = format!(
                "body {} B, {} headers (~{} B: {}), content_type {}, message_id {}, timestamp {}, delivery_mode {}",
                delivery.data.len(),
                names.len(),
                header_bytes,
                names.join(" "),
                props
                    .content_type()
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| c.to_string()),
                if props.message_id().is_some() { "set" } else { "-" },
                if props.timestamp().is_some() { "set" } else { "-" },
                props.delivery_mode().unwrap_or_default()
            );
            Sample {
                properties: delivery.properties.clone(),
                body: delivery.data,
                description,
            }
        }))
    }

    /// Deletes the exchange and the queue and closes the connection.
    pub async fn delete(self) -> Result<()> {
        // The exchange first: it is auto-delete, so removing the queue (its only binding)
        // first would delete it and make this delete fail.
        bounded(
            "exchange.delete",
            self.channel.exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            ),
        )
        .await?;
        bounded(
            "queue.delete",
            self.channel
                .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default()),
        )
        .await?;
        let _ = tokio::time::timeout(
            ADMIN_TIMEOUT,
            self.connection.close(200, "bench done".into()),
        )
        .await;
        Ok(())
    }
}

fn value_len(value: &AMQPValue) -> usize {
    match value {
        AMQPValue::LongString(s) => s.as_bytes().len(),
        AMQPValue::ShortString(s) => s.as_str().len(),
        _ => 8,
    }
}

/// One message as the broker held it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    pub description: String,
}

/// What a closed-loop load achieved inside its window.
#[derive(Debug)]
pub struct LoadStats {
    /// Confirmed (or answered 200) with the answer inside the window.
    pub ok_in_window: u64,
    /// All confirmed, warm-up included.
    pub ok_total: u64,
    /// Nacked, returned as unroutable, or refused.
    pub refused: u64,
    /// Per-message latency of the answers inside the window, microseconds.
    pub hist: Histogram<u64>,
    pub errors: Vec<String>,
}

impl LoadStats {
    pub fn new() -> Result<Self> {
        Ok(Self {
            ok_in_window: 0,
            ok_total: 0,
            refused: 0,
            hist: record::histogram()?,
            errors: Vec::new(),
        })
    }

    /// A success answered at `done` for a request started at `started`.
    pub fn ok(&mut self, started: Instant, done: Instant, from: Instant, until: Instant) {
        self.ok_total += 1;
        if done >= from && done < until {
            self.ok_in_window += 1;
            record::record_ns(&mut self.hist, (done - started).as_nanos() as u64);
        }
    }
}

/// The bare publisher: `window` mandatory publishes of `message` always awaiting their confirm
/// on one channel; a new one goes out as soon as one is confirmed. Stops starting publishes at
/// `until`, then waits for the outstanding confirms.
pub async fn confirm_window_load(
    channel: Channel,
    exchange: &str,
    window: usize,
    message: (Vec<u8>, BasicProperties),
    from: Instant,
    until: Instant,
) -> Result<LoadStats> {
    let mut stats = LoadStats::new()?;
    let (body, properties) = message;
    let body = Arc::new(body);
    let exchange = ShortString::from(exchange);
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < window && Instant::now() < until {
            let (channel, body, exchange, properties) = (
                channel.clone(),
                body.clone(),
                exchange.clone(),
                properties.clone(),
            );
            in_flight.push(async move {
                let started = Instant::now();
                let confirmed = async {
                    channel
                        .basic_publish(
                            exchange,
                            ROUTING_KEY.into(),
                            BasicPublishOptions {
                                mandatory: true,
                                immediate: false,
                            },
                            &body,
                            properties,
                        )
                        .await?
                        .await
                };
                let outcome = tokio::time::timeout(CONFIRM_TIMEOUT, confirmed).await;
                (started, outcome)
            });
        }
        let Some((started, outcome)) = in_flight.next().await else {
            break;
        };
        match outcome {
            Ok(Ok(Confirmation::Ack(None))) => stats.ok(started, Instant::now(), from, until),
            Ok(Ok(other)) => {
                stats.refused += 1;
                if stats.refused <= 3 {
                    stats
                        .errors
                        .push(format!("publish not confirmed: {other:?}"));
                }
            }
            Ok(Err(e)) => {
                stats.errors.push(format!("publish failed: {e}"));
                break;
            }
            Err(_) => {
                stats
                    .errors
                    .push(format!("no confirm within {CONFIRM_TIMEOUT:?}"));
                break;
            }
        }
    }
    Ok(stats)
}

/// What an open-loop publisher did.
#[derive(Debug, Default)]
pub struct OpenLoopStats {
    pub sent: u64,
    /// Acknowledged by the broker (PUBACK, or publisher confirm).
    pub acked: u64,
    pub max_lag_us: u64,
    pub errors: Vec<String>,
}

/// Publishes the data of path `path`'s events at `rate` per second from `start` until `until`
/// (persistent, mandatory, confirm mode; confirms are collected without holding the schedule).
pub async fn open_loop_publish(
    channel: Channel,
    exchange: &str,
    schedule: super::Schedule,
) -> OpenLoopStats {
    let mut stats = OpenLoopStats::default();
    let exchange = ShortString::from(exchange);
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let mut confirms = FuturesUnordered::new();
    let mut seq: u64 = 0;
    loop {
        let due = schedule.due(seq);
        if due >= schedule.until {
            break;
        }
        // Wait for the due time, taking confirms as they come.
        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(due) => break,
                Some(outcome) = confirms.next(), if !confirms.is_empty() => {
                    tally_confirm(&mut stats, outcome);
                }
            }
        }
        stats.max_lag_us = stats
            .max_lag_us
            .max(Instant::now().saturating_duration_since(due).as_micros() as u64);
        let id = format!("a{}-{seq}", schedule.path);
        let (event, start, end) = record::event(
            &id,
            schedule.path,
            seq,
            schedule.clock.now_ns(),
            schedule.event_bytes,
        );
        let published = channel
            .basic_publish(
                exchange.clone(),
                ROUTING_KEY.into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &event[start..end],
                properties.clone(),
            )
            .await;
        match published {
            Ok(confirm) => {
                stats.sent += 1;
                confirms.push(tokio::time::timeout(CONFIRM_TIMEOUT, confirm));
            }
            Err(e) => {
                stats.errors.push(format!("publish failed: {e}"));
                break;
            }
        }
        seq += 1;
    }
    while let Some(outcome) = confirms.next().await {
        tally_confirm(&mut stats, outcome);
    }
    stats
}

fn tally_confirm(
    stats: &mut OpenLoopStats,
    outcome: Result<lapin::Result<Confirmation>, tokio::time::error::Elapsed>,
) {
    match outcome {
        Ok(Ok(Confirmation::Ack(None))) => stats.acked += 1,
        Ok(Ok(other)) if stats.errors.len() < 5 => {
            stats
                .errors
                .push(format!("publish not confirmed: {other:?}"));
        }
        Ok(Err(e)) if stats.errors.len() < 5 => {
            stats.errors.push(format!("confirm failed: {e}"));
        }
        Err(_) if stats.errors.len() < 5 => {
            stats
                .errors
                .push(format!("no confirm within {CONFIRM_TIMEOUT:?}"));
        }
        _ => {}
    }
}

/// Consumes `queue` (auto-ack) on its own connection, handing every body to `recorder`, until
/// `stop` turns true. Returns once the consumer is registered.
pub async fn consume(
    url: &str,
    queue: &str,
    recorder: Arc<Mutex<Recorder>>,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let connection = connect(url).await?;
    let channel = bounded("open a channel", connection.create_channel()).await?;
    let options = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = bounded(
        "basic.consume",
        channel.basic_consume(queue.into(), "".into(), options, FieldTable::default()),
    )
    .await?;
    let tag = consumer.tag();
    Ok(tokio::spawn(async move {
        let result = loop {
            tokio::select! {
                _ = stop.wait_for(|&s| s) => break Ok(()),
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => recorder
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .on_message(&delivery.data),
                    Some(Err(e)) => break Err(anyhow::anyhow!("consumer failed: {e}")),
                    None => break Err(anyhow::anyhow!("the broker ended the consumer")),
                },
            }
        };
        let _ = tokio::time::timeout(
            ADMIN_TIMEOUT,
            channel.basic_cancel(tag, BasicCancelOptions::default()),
        )
        .await;
        let _ =
            tokio::time::timeout(ADMIN_TIMEOUT, connection.close(200, "bench done".into())).await;
        result
    }))
}
