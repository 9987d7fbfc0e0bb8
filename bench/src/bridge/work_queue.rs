//! Work-queue throughput: a RabbitMQ-backed work queue drained through the gateway against a
//! bare lapin consumer with the same prefetch, each draining the same number of messages
//! published beforehand into a fresh queue, in the same run. Gateway consumers: one WebSocket
//! with credit = the prefetch (an ack and a credit frame per message), and `C` HTTP consumers
//! leasing batches of 10 (`?max=10`) and acking each receipt with its own POST.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Settings;
use super::gateway_config::{ConfigFile, start_gateway};
use super::rabbit;
use crate::conn;
use crate::gateway::Launch;

/// Messages each consumer drains.
const MESSAGES: usize = 20_000;
/// The prefetch of the bare consumer and of the gateway's queue consumer.
const PREFETCH: u16 = 100;
/// Longest a drain may take.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(launch: &Launch, s: &Settings) -> Result<()> {
    let queue = format!("sy-bench-work-{}", std::process::id());
    println!("== work queue: {MESSAGES} messages from RabbitMQ, prefetch {PREFETCH}, the same run");
    println!("{:<36} {:>12} {:>10}", "consumer", "messages/s", "vs bare");
    fill(&s.amqp_url, &queue).await?;
    let bare = bare(&s.amqp_url, &queue).await?;
    println!(
        "{:<36} {:>12.0} {:>9.2}x",
        "bare lapin (ack each)", bare, 1.0
    );
    let yaml = format!(
        "queues:\n  work: {{ max_batch: {PREFETCH}, amqp: {{ url: \"{}\", queue: \"{queue}\", prefetch: {PREFETCH} }} }}\n",
        s.amqp_url
    );
    let config = ConfigFile::write("work-queue", &yaml)?;
    let gw = start_gateway(launch, &config).await?;
    fill(&s.amqp_url, &queue).await?;
    let ws = websocket(gw.addr()).await?;
    println!(
        "{:<36} {:>12.0} {:>9.2}x",
        "gateway WebSocket, credit 100",
        ws,
        ws / bare
    );
    fill(&s.amqp_url, &queue).await?;
    let c = s.confirm_window.clamp(1, 16);
    let http = http(gw.addr(), c).await?;
    let label = format!("gateway HTTP, {c} consumers, max=10");
    println!("{label:<36} {http:>12.0} {:>9.2}x", http / bare);
    drop(gw);
    let connection = rabbit::connect(&s.amqp_url).await?;
    let channel = connection.create_channel().await?;
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    Ok(())
}

/// Publishes `MESSAGES` small JSON bodies into `queue` (declared durable), all confirmed.
async fn fill(url: &str, queue: &str) -> Result<()> {
    let connection = rabbit::connect(url).await?;
    let channel = rabbit::confirm_channel(&connection).await?;
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await?;
    let mut confirms = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let body = format!(r#"{{"job":{i}}}"#);
        let properties = BasicProperties::default().with_content_type("application/json".into());
        confirms.push(
            channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    properties,
                )
                .await?,
        );
    }
    for confirm in confirms {
        if !matches!(confirm.await?, Confirmation::Ack(None)) {
            bail!("a fill message was not confirmed");
        }
    }
    Ok(())
}

/// The bare consumer: prefetch `PREFETCH`, one ack per message; messages per second.
async fn bare(url: &str, queue: &str) -> Result<f64> {
    let connection = rabbit::connect(url).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    let drained = async {
        for _ in 0..MESSAGES {
            let delivery = consumer.next().await.context("consumer ended")??;
            delivery.ack(BasicAckOptions::default()).await?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DRAIN_LIMIT, drained)
        .await
        .context("bare drain timed out")??;
    let rate = MESSAGES as f64 / started.elapsed().as_secs_f64();
    let _ = connection.close(200, "done".into()).await;
    Ok(rate)
}

/// One WebSocket consumer with credit `PREFETCH`: an ack and a credit per message.
async fn websocket(server: std::net::SocketAddr) -> Result<f64> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{server}/queues/work"))
        .await
        .context("websocket connect")?;
    ws.send(Message::text(format!(r#"{{"credit":{PREFETCH}}}"#)))
        .await?;
    let started = Instant::now();
    let drained = async {
        let mut got = 0;
        while got < MESSAGES {
            let Message::Text(text) = ws.next().await.context("socket ended")?? else {
                continue;
            };
            let event: serde_json::Value = serde_json::from_str(&text)?;
            let receipt = event["receipt"].as_str().context("no receipt")?;
            ws.send(Message::text(format!(r#"{{"ack":"{receipt}"}}"#)))
                .await?;
            ws.send(Message::text(r#"{"credit":1}"#)).await?;
            got += 1;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DRAIN_LIMIT, drained)
        .await
        .context("websocket drain timed out")??;
    Ok(MESSAGES as f64 / started.elapsed().as_secs_f64())
}

/// `c` HTTP consumers leasing 10 at a time and acking each; messages per second overall.
async fn http(server: std::net::SocketAddr, c: usize) -> Result<f64> {
    let per = MESSAGES / c;
    let started = Instant::now();
    let mut consumers = JoinSet::new();
    for i in 0..c {
        let target = if i == c - 1 {
            MESSAGES - per * (c - 1)
        } else {
            per
        };
        consumers.spawn(async move { http_consumer(server, target).await });
    }
    let drained = async {
        while let Some(joined) = consumers.join_next().await {
            joined.context("consumer task")??;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(DRAIN_LIMIT, drained)
        .await
        .context("HTTP drain timed out")??;
    Ok(MESSAGES as f64 / started.elapsed().as_secs_f64())
}

async fn http_consumer(server: std::net::SocketAddr, target: usize) -> Result<()> {
    let mut socket = tokio::net::TcpStream::connect(server).await?;
    socket.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut got = 0;
    while got < target {
        let want = (target - got).min(10);
        let lease =
            format!("GET /queues/work?max={want}&wait=1 HTTP/1.1\r\nHost: {server}\r\n\r\n");
        socket.write_all(lease.as_bytes()).await?;
        let body = conn::read_response_body(&mut socket, &mut buf).await?;
        let events: Vec<serde_json::Value> = serde_json::from_slice(&body)?;
        for event in events {
            let receipt = event["receipt"].as_str().context("no receipt")?;
            let ack = format!(
                "POST /queues/work/ack HTTP/1.1\r\nHost: {server}\r\nswitchyard-receipt: {receipt}\r\nContent-Length: 0\r\n\r\n"
            );
            socket.write_all(ack.as_bytes()).await?;
            let status = conn::read_response(&mut socket, &mut buf).await?;
            if status != 204 {
                bail!("ack answered {status}");
            }
            got += 1;
        }
    }
    Ok(())
}
