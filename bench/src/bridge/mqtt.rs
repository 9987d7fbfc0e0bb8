//! MQTT 5 clients (rumqttc) for the latency paths: an open-loop QoS 1 publisher of structured
//! CloudEvents and a QoS 1 subscriber feeding a [`Recorder`]. Both use `TCP_NODELAY` and a
//! clean session; neither reconnects (a reconnect would make the run invalid anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use rumqttc::NetworkOptions;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Schedule;
use super::rabbit::OpenLoopStats;
use super::record::{self, Recorder};

/// Time allowed for CONNACK and SUBACK.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the last PUBACKs after publishing stopped.
const ACK_DRAIN: Duration = Duration::from_secs(10);
/// Content Type of a structured-mode CloudEvent.
const STRUCTURED: &str = "application/cloudevents+json";

/// Where the broker is.
#[derive(Debug, Clone)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

impl Broker {
    /// `mqtt://host:port` (or `tcp://`; port 1883 when left out).
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .with_context(|| format!("MQTT url {url} must start with mqtt://"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .with_context(|| format!("bad port in MQTT url {url}"))?,
            ),
            None => (rest, 1883),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The options every bench client connects with.
    pub fn options_for(&self, client_id: &str) -> MqttOptions {
        self.options(client_id)
    }

    fn options(&self, client_id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, &self.host, self.port);
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_start(true)
            .set_network_options(network);
        options
    }
}

/// Subscribes `topic` at QoS 1 and hands every message to `recorder` until `stop` turns true.
/// Returns once the broker acknowledged the subscription.
pub async fn subscribe(
    broker: &Broker,
    client_id: &str,
    topic: &str,
    recorder: Arc<Mutex<Recorder>>,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<Result<()>>> {
    let (client, mut events) = AsyncClient::new(broker.options(client_id), 64);
    client
        .subscribe(topic, QoS::AtLeastOnce)
        .await
        .context("MQTT subscribe request")?;
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        let result = loop {
            tokio::select! {
                _ = stop.wait_for(|&s| s) => break Ok(()),
                polled = events.poll() => match polled {
                    Ok(Event::Incoming(Packet::Publish(publish))) => recorder
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .on_message(&publish.payload),
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(ack.return_codes.clone());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => break Err(anyhow!("MQTT subscriber connection failed: {e}")),
                },
            }
        };
        disconnect(&client, &mut events).await;
        result
    });
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, subscribed_rx).await {
        Ok(Ok(codes)) => {
            if !codes
                .iter()
                .all(|c| matches!(c, SubscribeReasonCode::Success(_)))
            {
                task.abort();
                bail!("the broker refused the subscription to {topic}: {codes:?}");
            }
            Ok(task)
        }
        Ok(Err(_)) => match task.await {
            Ok(Err(e)) => Err(e),
            _ => bail!("the MQTT subscriber ended before its subscription was acknowledged"),
        },
        Err(_) => {
            task.abort();
            bail!("no SUBACK for {topic} within {HANDSHAKE_TIMEOUT:?}")
        }
    }
}

/// Publishes path `schedule.path`'s events to `topic` at QoS 1 on the schedule (structured
/// CloudEvents with Content Type `application/cloudevents+json`), then waits for the PUBACKs.
pub async fn publish_open_loop(
    broker: &Broker,
    client_id: &str,
    topic: &str,
    schedule: Schedule,
) -> Result<OpenLoopStats> {
    let mut options = broker.options(client_id);
    options.set_outgoing_inflight_upper_limit(1000);
    let (client, events) = AsyncClient::new(options, 1024);
    let acked = Arc::new(AtomicU64::new(0));
    let (connected_tx, connected_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let poller = tokio::spawn(poll_publisher(
        client.clone(),
        events,
        acked.clone(),
        connected_tx,
        stop_rx,
    ));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connected_rx).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return Err(match poller.await {
                Ok(Err(e)) => e,
                _ => anyhow!("the MQTT publisher ended before it connected"),
            });
        }
        Err(_) => {
            poller.abort();
            bail!("no CONNACK within {HANDSHAKE_TIMEOUT:?}");
        }
    }
    let mut stats = OpenLoopStats::default();
    let properties = PublishProperties {
        content_type: Some(STRUCTURED.to_owned()),
        ..PublishProperties::default()
    };
    let mut seq: u64 = 0;
    loop {
        let due = schedule.due(seq);
        if due >= schedule.until || poller.is_finished() {
            break;
        }
        tokio::time::sleep_until(due).await;
        stats.max_lag_us = stats
            .max_lag_us
            .max(Instant::now().saturating_duration_since(due).as_micros() as u64);
        let id = format!("m{}-{seq}", schedule.path);
        let (event, _, _) = record::event(
            &id,
            schedule.path,
            seq,
            schedule.clock.now_ns(),
            schedule.event_bytes,
        );
        let publish = client.publish_with_properties(
            topic,
            QoS::AtLeastOnce,
            false,
            Bytes::from(event),
            properties.clone(),
        );
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, publish).await {
            Ok(Ok(())) => stats.sent += 1,
            Ok(Err(e)) => {
                stats.errors.push(format!("MQTT publish: {e}"));
                break;
            }
            Err(_) => {
                stats.errors.push("MQTT publish request queue stuck".into());
                break;
            }
        }
        seq += 1;
    }
    let deadline = Instant::now() + ACK_DRAIN;
    while acked.load(Ordering::Relaxed) < stats.sent
        && Instant::now() < deadline
        && !poller.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stats.acked = acked.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(5), poller).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => stats.errors.push(format!("{e:#}")),
        Ok(Err(e)) => stats.errors.push(format!("MQTT publisher task: {e}")),
        Err(_) => stats.errors.push("MQTT publisher did not stop".into()),
    }
    Ok(stats)
}

/// Drives the publisher's connection: reports CONNACK, counts PUBACKs.
async fn poll_publisher(
    client: AsyncClient,
    mut events: EventLoop,
    acked: Arc<AtomicU64>,
    connected: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut connected = Some(connected);
    let result = loop {
        tokio::select! {
            _ = stop.wait_for(|&s| s) => break Ok(()),
            polled = events.poll() => match polled {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    reason => break Err(anyhow!("the broker refused a publish: {reason:?}")),
                },
                Ok(_) => {}
                Err(e) => break Err(anyhow!("MQTT publisher connection failed: {e}")),
            },
        }
    };
    disconnect(&client, &mut events).await;
    result
}

/// Sends DISCONNECT and polls until it is written (at most a second).
async fn disconnect(client: &AsyncClient, events: &mut EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}
