//! Request-reply round trips (issue: HTTP → AMQP → HTTP against a direct lapin RPC client).
//! One lapin RPC service in the harness consumes a fresh auto-delete queue and answers each
//! request to its `reply_to` with its `correlation_id` (the body echoed). The same service
//! answers both clients, in the same run:
//!
//! - **direct**: a lapin client on one channel using RabbitMQ's direct reply-to, `C` callers
//!   each with one request outstanding (closed loop);
//! - **gateway**: `C` keep-alive HTTP/1.1 connections POSTing to `/rpc/ask`, which the
//!   gateway publishes with direct reply-to and answers with the reply.
//!
//! Printed per concurrency: round trips per second, p50 and p99, and the gateway's added p50.
//! Then the same over MQTT 5 (`rpc_mqtt.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Settings;
use super::gateway_config::{ConfigFile, start_gateway};
use super::{rabbit, record};
use crate::conn;
use crate::gateway::Launch;

const REPLY_TO: &str = "amq.rabbitmq.reply-to";
/// A round trip that takes longer than this fails the run.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const BODY: &[u8] = br#"{"sku":"a-1","qty":3}"#;

/// What one client achieved inside its window.
pub(super) struct Stats {
    calls: u64,
    hist: Histogram<u64>,
}

pub async fn run(launch: &Launch, s: &Settings, concurrency: &[usize]) -> Result<()> {
    let queue = format!("sy-bench-rpc-{}", std::process::id());
    let service = serve(&s.amqp_url, &queue).await?;
    let yaml = format!(
        "outbounds:\n  svc: {{ type: amqp, url: \"{}\", exchange: \"\", routing_key: \"{queue}\", persistent: false }}\nroutes:\n  - {{ name: ask, topics: \"ask\", to: svc }}\n",
        s.amqp_url
    );
    let config = ConfigFile::write("rpc", &yaml)?;
    let gw = start_gateway(launch, &config).await?;
    println!(
        "== rpc: HTTP → AMQP → HTTP vs a direct lapin RPC client, {:?} window",
        s.window
    );
    header();
    for &c in concurrency {
        let direct = direct(&s.amqp_url, &queue, c, s).await?;
        let via = gateway(gw.addr(), c, s, BODY).await?;
        rows(c, s, &direct, &via);
    }
    service.abort();
    drop(gw);
    super::rpc_mqtt::run(launch, s, concurrency).await
}

pub(super) fn header() {
    println!(
        "{:<4} {:<8} {:>12} {:>10} {:>10} {:>14}",
        "C", "client", "calls/s", "p50 ms", "p99 ms", "added p50 ms"
    );
}

/// The direct client's row and the gateway's, with its added p50.
pub(super) fn rows(c: usize, s: &Settings, direct: &Stats, via: &Stats) {
    let secs = s.window.as_secs_f64();
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    for (name, stats) in [("direct", direct), ("gateway", via)] {
        let added = p(&stats.hist, 0.5) - p(&direct.hist, 0.5);
        println!(
            "{c:<4} {name:<8} {:>12.0} {:>10.3} {:>10.3} {:>14.3}",
            stats.calls as f64 / secs,
            p(&stats.hist, 0.5),
            p(&stats.hist, 0.99),
            added
        );
    }
}

/// The RPC service: echoes each request to its `reply_to`.
async fn serve(url: &str, queue: &str) -> Result<tokio::task::JoinHandle<()>> {
    let connection = rabbit::connect(url).await?;
    let channel = connection.create_channel().await?;
    let options = QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .context("declare the service queue")?;
    let mut consumer = channel
        .basic_consume(queue.into(), "".into(), no_ack(), FieldTable::default())
        .await
        .context("consume the service queue")?;
    Ok(tokio::spawn(async move {
        let _connection = connection;
        while let Some(Ok(delivery)) = consumer.next().await {
            let (Some(reply_to), Some(id)) = (
                delivery.properties.reply_to().clone(),
                delivery.properties.correlation_id().clone(),
            ) else {
                continue;
            };
            let properties = BasicProperties::default()
                .with_correlation_id(id)
                .with_content_type("application/json".into());
            let _ = channel
                .basic_publish(
                    "".into(),
                    reply_to,
                    BasicPublishOptions::default(),
                    &delivery.data,
                    properties,
                )
                .await;
        }
    }))
}

fn no_ack() -> BasicConsumeOptions {
    BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    }
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

/// The direct client: `c` callers on one channel with direct reply-to.
async fn direct(url: &str, queue: &str, c: usize, s: &Settings) -> Result<Stats> {
    let connection = rabbit::connect(url).await?;
    let channel = connection.create_channel().await?;
    let mut replies = channel
        .basic_consume(REPLY_TO.into(), "".into(), no_ack(), FieldTable::default())
        .await
        .context("consume direct reply-to")?;
    let waiting: Waiting = Arc::default();
    let reader = tokio::spawn({
        let waiting = waiting.clone();
        async move {
            while let Some(Ok(reply)) = replies.next().await {
                let id = reply
                    .properties
                    .correlation_id()
                    .clone()
                    .unwrap_or_default();
                let waiter = waiting.lock().ok().and_then(|mut w| w.remove(id.as_str()));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(());
                }
            }
        }
    });
    let (from, until) = window(s);
    let mut callers = JoinSet::new();
    for caller in 0..c {
        let (channel, waiting, queue) = (channel.clone(), waiting.clone(), queue.to_owned());
        callers
            .spawn(async move { call_loop(channel, waiting, &queue, caller, (from, until)).await });
    }
    let stats = merge(callers).await;
    reader.abort();
    stats
}

async fn call_loop(
    channel: Channel,
    waiting: Waiting,
    queue: &str,
    caller: usize,
    (from, until): (Instant, Instant),
) -> Result<Stats> {
    let mut stats = Stats::new()?;
    let mut seq = 0u64;
    while Instant::now() < until {
        let id = format!("{caller}-{seq}");
        seq += 1;
        let (tx, rx) = oneshot::channel();
        waiting
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(id.clone(), tx);
        let started = Instant::now();
        let properties = BasicProperties::default()
            .with_reply_to(ShortString::from(REPLY_TO))
            .with_correlation_id(id.into());
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                BODY,
                properties,
            )
            .await?;
        tokio::time::timeout(CALL_TIMEOUT, rx)
            .await
            .context("no reply")??;
        stats.ok(started, from, until);
    }
    Ok(stats)
}

/// The gateway path: `c` keep-alive connections POSTing `body` to `/rpc/ask`.
pub(super) async fn gateway(
    server: std::net::SocketAddr,
    c: usize,
    s: &Settings,
    body: &'static [u8],
) -> Result<Stats> {
    let (from, until) = window(s);
    let mut callers = JoinSet::new();
    for _ in 0..c {
        callers.spawn(async move {
            let mut stats = Stats::new()?;
            let mut socket = tokio::net::TcpStream::connect(server).await?;
            socket.set_nodelay(true)?;
            let mut request = format!(
                "POST /rpc/ask HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(body);
            let mut scratch = Vec::with_capacity(1024);
            while Instant::now() < until {
                let started = Instant::now();
                socket.write_all(&request).await?;
                let status = tokio::time::timeout(CALL_TIMEOUT, conn::read_response(&mut socket, &mut scratch))
                    .await
                    .context("no answer")??;
                if status != 200 {
                    bail!("the gateway answered {status}");
                }
                stats.ok(started, from, until);
            }
            Ok(stats)
        });
    }
    merge(callers).await
}

/// The window after the warm-up, from now.
pub(super) fn window(s: &Settings) -> (Instant, Instant) {
    let from = Instant::now() + s.warmup;
    (from, from + s.window)
}

pub(super) async fn merge(mut callers: JoinSet<Result<Stats>>) -> Result<Stats> {
    let mut total = Stats::new()?;
    while let Some(joined) = callers.join_next().await {
        let stats = joined.context("caller task")??;
        total.calls += stats.calls;
        total.hist.add(&stats.hist)?;
    }
    Ok(total)
}

impl Stats {
    pub(super) fn new() -> Result<Self> {
        Ok(Self {
            calls: 0,
            hist: record::histogram()?,
        })
    }

    pub(super) fn ok(&mut self, started: Instant, from: Instant, until: Instant) {
        let done = Instant::now();
        if done >= from && done < until {
            self.calls += 1;
            record::record_ns(&mut self.hist, (done - started).as_nanos() as u64);
        }
    }
}
