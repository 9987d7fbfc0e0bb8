//! Latency (S4): the direct MQTT and AMQP paths, then MQTT -> gateway -> AMQP, and the same
//! gateway path again with an MQTT observer that splits its latency at Mosquitto.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::task::JoinHandle;

use super::Settings;
use super::gateway_config::{ConfigFile, start_gateway};
use super::latency_result::{LatencyResult, Legs, Path, PathResult, Split};
use super::mqtt::{self, Broker};
use super::path_run::{PathRun, join_publisher};
use super::rabbit::{self, Topology};
use super::record::Recorder;
use super::window::{Pids, measure_window, measure_window_plain};
use crate::gateway::{Gateway, Launch};

pub async fn run(
    launch: &Launch,
    s: &Settings,
    topology: &Topology,
    tag: &str,
) -> Result<LatencyResult> {
    let broker = Broker::parse(&s.mqtt_url)?;
    let mqtt = direct_mqtt(s, &broker, tag)
        .await
        .map_err(|e| format!("{e:#}"));
    topology.purge().await?;
    let amqp = direct_amqp(s, topology).await.map_err(|e| format!("{e:#}"));
    topology.purge().await?;
    let (gateway, split) = match gateway_paths(launch, s, &broker, topology, tag).await {
        Ok((gateway, split)) => (Ok(gateway), split),
        Err(e) => (Err(format!("{e:#}")), Err("not run".into())),
    };
    Ok(LatencyResult {
        mqtt,
        amqp,
        gateway,
        split,
    })
}

async fn direct_mqtt(s: &Settings, broker: &Broker, tag: &str) -> Result<PathResult> {
    let topic = format!("switchyard-bench/{tag}/direct");
    let run = PathRun::new(s, Path::DirectMqtt, Duration::from_millis(500))?;
    let receiver = mqtt::subscribe(
        broker,
        &format!("sy-bench-{tag}-dsub"),
        &topic,
        run.recorder.clone(),
        run.stop_rx.clone(),
    )
    .await?;
    let publisher = {
        let (broker, id, topic, schedule) = (
            broker.clone(),
            format!("sy-bench-{tag}-dpub"),
            topic.clone(),
            run.schedule,
        );
        tokio::spawn(async move { mqtt::publish_open_loop(&broker, &id, &topic, schedule).await })
    };
    let pids = Pids::find(None);
    let cpu = measure_window_plain(&pids, run.from, run.until).await?;
    let published = join_publisher(publisher).await?;
    Ok(run.finish(Path::DirectMqtt, published, receiver, cpu).await)
}

async fn direct_amqp(s: &Settings, topology: &Topology) -> Result<PathResult> {
    let run = PathRun::new(s, Path::DirectAmqp, Duration::from_millis(500))?;
    let receiver = rabbit::consume(
        &s.amqp_url,
        &topology.queue,
        run.recorder.clone(),
        run.stop_rx.clone(),
    )
    .await?;
    let connection = rabbit::connect(&s.amqp_url).await?;
    let channel = rabbit::confirm_channel(&connection).await?;
    let publisher = {
        let (exchange, schedule) = (topology.exchange.clone(), run.schedule);
        tokio::spawn(async move {
            anyhow::Ok(rabbit::open_loop_publish(channel, &exchange, schedule).await)
        })
    };
    let pids = Pids::find(None);
    let cpu = measure_window_plain(&pids, run.from, run.until).await?;
    let published = join_publisher(publisher).await?;
    let result = run.finish(Path::DirectAmqp, published, receiver, cpu).await;
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        connection.close(200, "bench done".into()),
    )
    .await;
    Ok(result)
}

async fn gateway_paths(
    launch: &Launch,
    s: &Settings,
    broker: &Broker,
    topology: &Topology,
    tag: &str,
) -> Result<(PathResult, Result<Split, String>)> {
    let topic = format!("switchyard-bench/{tag}/gateway");
    let yaml = format!(
        "inbounds:\n  mq: {{ type: mqtt, url: \"{mqtt}\", client_id: \"sy-bench-{tag}-gw\", subscribe: [\"{topic}\"], qos: 1, session_expiry_s: 60 }}\noutbounds:\n  rabbit: {{ type: amqp, url: \"{url}\", exchange: \"{exchange}\", routing_key: \"{key}\", mode: binary }}\nroutes:\n  - {{ name: r, from: mq, to: rabbit }}\n",
        mqtt = s.mqtt_url,
        url = s.amqp_url,
        exchange = topology.exchange,
        key = rabbit::ROUTING_KEY,
    );
    let config = ConfigFile::write(&format!("s4-{tag}"), &yaml)?;
    let mut gw = start_gateway(launch, &config).await?;
    let (main, _) = gateway_run(s, broker, topology, tag, &topic, &mut gw, false).await?;
    topology.purge().await?;
    let split = gateway_run(s, broker, topology, tag, &topic, &mut gw, true)
        .await
        .and_then(|(observed, legs)| {
            Ok(Split {
                observed,
                legs: legs.context("no observer")?,
            })
        })
        .map_err(|e| format!("{e:#}"));
    drop(gw);
    Ok((main, split))
}

/// One run of the gateway path; with `observe`, a bench MQTT subscriber on the gateway's
/// topic too, to split the latency at Mosquitto.
async fn gateway_run(
    s: &Settings,
    broker: &Broker,
    topology: &Topology,
    tag: &str,
    topic: &str,
    gw: &mut Gateway,
    observe: bool,
) -> Result<(PathResult, Option<Legs>)> {
    let path = if observe {
        Path::GatewayObserved
    } else {
        Path::Gateway
    };
    let run = PathRun::new(s, path, Duration::from_millis(500))?;
    let receiver = rabbit::consume(
        &s.amqp_url,
        &topology.queue,
        run.recorder.clone(),
        run.stop_rx.clone(),
    )
    .await?;
    let observer = if observe {
        Some(start_observer(broker, tag, topic, &run).await?)
    } else {
        None
    };
    let publisher = {
        let (broker, id, topic, schedule) = (
            broker.clone(),
            format!("sy-bench-{tag}-gpub"),
            topic.to_owned(),
            run.schedule,
        );
        tokio::spawn(async move { mqtt::publish_open_loop(&broker, &id, &topic, schedule).await })
    };
    let pids = Pids::find(Some(gw.pid()));
    let (cpu, internal) = measure_window(&pids, gw, run.from, run.until, Some("mq")).await?;
    let published = join_publisher(publisher).await?;
    let sent = published.sent;
    let consumer = run.recorder.clone();
    let mut result = run.finish(path, published, receiver, cpu).await;
    if let Err(e) = gw.ensure_alive() {
        result.errors.push(format!("{e:#}"));
    }
    result.internal = internal;
    let split = match observer {
        None => None,
        Some(observer) => {
            Some(finish_observer(observer, &consumer, sent, &mut result.errors).await?)
        }
    };
    Ok((result, split))
}

/// The observer's recorder and its task.
type Observer = (Arc<Mutex<Recorder>>, JoinHandle<Result<()>>);

/// A bench MQTT subscriber on the gateway's topic, recording into a fresh copy of the run's
/// recorder.
async fn start_observer(
    broker: &Broker,
    tag: &str,
    topic: &str,
    run: &PathRun,
) -> Result<Observer> {
    let recorder = {
        let rec = run.recorder.lock().unwrap_or_else(|e| e.into_inner());
        Arc::new(Mutex::new(rec.fresh()?))
    };
    let task = mqtt::subscribe(
        broker,
        &format!("sy-bench-{tag}-obs"),
        topic,
        recorder.clone(),
        run.stop_rx.clone(),
    )
    .await?;
    Ok((recorder, task))
}

/// Waits for the observer to stop, then splits each message's latency at Mosquitto.
async fn finish_observer(
    observer: Observer,
    consumer: &Mutex<Recorder>,
    sent: u64,
    errors: &mut Vec<String>,
) -> Result<Legs> {
    let (recorder, task) = observer;
    // `finish` stopped every receiver of the run (they share the stop signal).
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => errors.push(format!("observer: {e:#}")),
        _ => errors.push("observer did not stop".into()),
    }
    let observer = recorder.lock().unwrap_or_else(|e| e.into_inner());
    let consumer = consumer.lock().unwrap_or_else(|e| e.into_inner());
    Legs::of(&observer, &consumer, sent)
}
