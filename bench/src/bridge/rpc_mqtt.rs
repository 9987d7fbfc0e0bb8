//! Request-reply over MQTT 5: HTTP → gateway → MQTT 5 → service → gateway → HTTP against a
//! direct rumqttc requester (Response Topic and Correlation Data) to the same service, in the
//! same run. The service, in the harness, answers each request on its Response Topic with its
//! Correlation Data, the payload echoed, all at QoS 1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::Settings;
use super::gateway_config::{ConfigFile, start_gateway};
use super::mqtt::Broker;
use super::rpc::{self, CALL_TIMEOUT, Stats};
use crate::gateway::Launch;

const BODY: &[u8] = br#"{"sku":"a-1","qty":3}"#;

/// Runs the MQTT 5 part of the `rpc` benchmark; one table row pair per concurrency.
pub async fn run(launch: &Launch, s: &Settings, concurrency: &[usize]) -> Result<()> {
    let broker = Broker::parse(&s.mqtt_url)?;
    let topic = format!("sy-bench/rpc/{}", std::process::id());
    let service = serve(&broker, &topic).await?;
    let yaml = format!(
        "outbounds:\n  svc: {{ type: mqtt, url: \"{}\", topic: \"{topic}\", qos: 1 }}\nroutes:\n  - {{ name: ask, topics: \"ask\", to: svc }}\n",
        s.mqtt_url
    );
    let config = ConfigFile::write("rpc-mqtt", &yaml)?;
    let gw = start_gateway(launch, &config).await?;
    println!(
        "== rpc: HTTP → MQTT 5 → HTTP vs a direct rumqttc requester, {:?} window",
        s.window
    );
    rpc::header();
    for &c in concurrency {
        let direct = direct(&broker, &topic, c, s).await?;
        let via = rpc::gateway(gw.addr(), c, s, BODY).await?;
        rpc::rows(c, s, &direct, &via);
    }
    service.abort();
    Ok(())
}

/// A connected client whose event loop is driven by `on_packet` in its own task.
async fn client(
    broker: &Broker,
    id: &str,
    subscribe: &str,
    mut on_packet: impl FnMut(Packet) + Send + 'static,
) -> Result<(AsyncClient, JoinHandle<()>)> {
    let (client, mut events): (AsyncClient, EventLoop) =
        AsyncClient::new(broker.options_for(id), 1024);
    client.subscribe(subscribe, QoS::AtLeastOnce).await?;
    let (subscribed, acked) = oneshot::channel();
    let mut subscribed = Some(subscribed);
    let task = tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            if let Event::Incoming(packet) = event {
                if matches!(packet, Packet::SubAck(_)) {
                    subscribed.take().map(|s| s.send(()));
                }
                on_packet(packet);
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), acked)
        .await
        .context("no SUBACK")?
        .map_err(|_| anyhow!("the MQTT client stopped before its SUBACK"))?;
    Ok((client, task))
}

/// The service: answers each request on its Response Topic.
async fn serve(broker: &Broker, topic: &str) -> Result<JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Bytes, Bytes)>();
    let (client, task) = client(
        broker,
        &format!("sy-bench-svc-{}", std::process::id()),
        topic,
        move |packet| {
            if let Packet::Publish(publish) = packet
                && let Some(props) = publish.properties
                && let (Some(reply_to), Some(id)) = (props.response_topic, props.correlation_data)
            {
                let _ = tx.send((reply_to, id, publish.payload));
            }
        },
    )
    .await?;
    Ok(tokio::spawn(async move {
        let _task = task;
        while let Some((reply_to, id, payload)) = rx.recv().await {
            let props = PublishProperties {
                correlation_data: Some(id),
                content_type: Some("application/json".into()),
                ..PublishProperties::default()
            };
            let _ = client
                .publish_with_properties(reply_to, QoS::AtLeastOnce, false, payload, props)
                .await;
        }
    }))
}

type Waiting = Arc<Mutex<HashMap<Bytes, oneshot::Sender<()>>>>;

/// The direct requester: `c` callers, one client, its own Response Topic.
async fn direct(broker: &Broker, topic: &str, c: usize, s: &Settings) -> Result<Stats> {
    let replies = format!("sy-bench/replies/{}-{c}", std::process::id());
    let waiting: Waiting = Arc::default();
    let dispatch = waiting.clone();
    let (client, task) = client(
        broker,
        &format!("sy-bench-req-{}-{c}", std::process::id()),
        &replies,
        move |packet| {
            if let Packet::Publish(publish) = packet
                && let Some(id) = publish.properties.and_then(|p| p.correlation_data)
                && let Some(waiter) = dispatch.lock().ok().and_then(|mut w| w.remove(&id))
            {
                let _ = waiter.send(());
            }
        },
    )
    .await?;
    let (from, until) = rpc::window(s);
    let mut callers = JoinSet::new();
    for caller in 0..c {
        let (client, waiting, topic, replies) = (
            client.clone(),
            waiting.clone(),
            topic.to_owned(),
            replies.clone(),
        );
        callers.spawn(async move {
            let mut stats = Stats::new()?;
            let mut seq = 0u64;
            while Instant::now() < until {
                let id = Bytes::from(format!("{caller}-{seq}"));
                seq += 1;
                let (tx, rx) = oneshot::channel();
                waiting
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .insert(id.clone(), tx);
                let props = PublishProperties {
                    response_topic: Some(replies.clone()),
                    correlation_data: Some(id),
                    ..PublishProperties::default()
                };
                let started = Instant::now();
                client
                    .publish_with_properties(topic.clone(), QoS::AtLeastOnce, false, BODY, props)
                    .await?;
                if tokio::time::timeout(CALL_TIMEOUT, rx).await.is_err() {
                    bail!("no reply within {CALL_TIMEOUT:?}");
                }
                stats.ok(started, from, until);
            }
            Ok(stats)
        });
    }
    let stats = rpc::merge(callers).await;
    task.abort();
    stats
}
