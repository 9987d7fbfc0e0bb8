//! Confirmed throughput (S1): HTTP POSTs through the gateway to RabbitMQ against a bare lapin
//! publisher with the same confirm window, in alternating phases, then the control phase.

use std::time::Duration;

use anyhow::{Context, Result};
use lapin::BasicProperties;
use tokio::time::Instant;

use super::gateway_config::{ConfigFile, start_gateway};
use super::rabbit::{self, LoadStats, Sample, Topology};
use super::throughput_result::{Publisher, ThroughputPhase, ThroughputResult};
use super::window::{CpuUse, Pids, measure_window};
use super::{Settings, http_load, record};
use crate::gateway::{Gateway, Launch};

pub async fn run(
    launch: &Launch,
    s: &Settings,
    topology: &Topology,
    tag: &str,
) -> Result<ThroughputResult> {
    let yaml = format!(
        "outbounds:\n  rabbit: {{ type: amqp, url: \"{url}\", exchange: \"{exchange}\", routing_key: \"{key}\", mode: binary }}\nroutes:\n  - {{ name: r, to: rabbit }}\n",
        url = s.amqp_url,
        exchange = topology.exchange,
        key = rabbit::ROUTING_KEY,
    );
    let config = ConfigFile::write(&format!("s1-{tag}"), &yaml)?;
    let mut gw = start_gateway(launch, &config).await?;
    let connection = rabbit::connect(&s.amqp_url).await?;
    let channel = rabbit::confirm_channel(&connection).await?;
    let (bare_body, _, _) = record::event("bare", 0, 0, 0, s.event_bytes);
    let bare_message = (
        bare_body,
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/cloudevents+json".into()),
    );
    let mut out = ThroughputResult {
        phases: Vec::new(),
        gateway_message: None,
        bare_message: format!(
            "body {} B (the {} B event as a whole), no headers, content_type application/cloudevents+json, delivery_mode 2",
            bare_message.0.len(),
            s.event_bytes
        ),
    };
    let pids = Pids::find(Some(gw.pid()));
    let gateway_sample = rounds(
        s,
        &channel,
        topology,
        &bare_message,
        &pids,
        &mut gw,
        &mut out.phases,
    )
    .await?;
    // The control: the bare publisher sending exactly what the gateway sent (its body,
    // headers and properties), to tell the message's shape from the gateway's own cost.
    if let Some(sample) = gateway_sample {
        out.gateway_message = Some(sample.description.clone());
        let phase = control_phase(s, &channel, topology, sample, &pids, &mut gw).await?;
        out.phases.push(phase);
    }
    topology.purge().await?;
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        connection.close(200, "bench done".into()),
    )
    .await;
    drop(gw);
    Ok(out)
}

/// The bare/gateway phase pairs; returns a message the gateway published, taken from the queue
/// after its first phase.
async fn rounds(
    s: &Settings,
    channel: &lapin::Channel,
    topology: &Topology,
    bare_message: &(Vec<u8>, BasicProperties),
    pids: &Pids,
    gw: &mut Gateway,
    phases: &mut Vec<ThroughputPhase>,
) -> Result<Option<Sample>> {
    let mut gateway_sample = None;
    for round in 0..s.rounds.max(1) {
        // A B B A: drift over the run hits both publishers alike.
        let order = if round % 2 == 0 {
            [Publisher::Bare, Publisher::Gateway]
        } else {
            [Publisher::Gateway, Publisher::Bare]
        };
        for publisher in order {
            let purged_before = topology.purge().await?;
            let phase = match publisher {
                Publisher::Gateway => gateway_phase(s, gw, pids).await?,
                _ => {
                    let message = bare_message.clone();
                    bare_phase(s, channel, topology, publisher, message, pids, gw).await?
                }
            };
            phases.push(ThroughputPhase {
                round,
                purged_before,
                ..phase
            });
            if publisher == Publisher::Gateway && gateway_sample.is_none() {
                gateway_sample = topology.sample_one().await?;
            }
        }
    }
    Ok(gateway_sample)
}

/// The bare publisher replaying the gateway's message `sample`.
async fn control_phase(
    s: &Settings,
    channel: &lapin::Channel,
    topology: &Topology,
    sample: Sample,
    pids: &Pids,
    gw: &mut Gateway,
) -> Result<ThroughputPhase> {
    let purged_before = topology.purge().await?;
    let publisher = Publisher::BareGatewayMessage;
    let message = (sample.body, sample.properties);
    let phase = bare_phase(s, channel, topology, publisher, message, pids, gw).await?;
    Ok(ThroughputPhase {
        round: s.rounds.max(1),
        purged_before,
        ..phase
    })
}

async fn bare_phase(
    s: &Settings,
    channel: &lapin::Channel,
    topology: &Topology,
    publisher: Publisher,
    message: (Vec<u8>, BasicProperties),
    pids: &Pids,
    gw: &mut Gateway,
) -> Result<ThroughputPhase> {
    let start = Instant::now();
    let from = start + s.warmup;
    let until = from + s.window;
    let (channel, exchange, window) =
        (channel.clone(), topology.exchange.clone(), s.confirm_window);
    let mut task = tokio::spawn(async move {
        rabbit::confirm_window_load(channel, &exchange, window, message, from, until).await
    });
    let (cpu, _) = measure_window(pids, gw, from, until, None).await?;
    let stats = tokio::time::timeout(Duration::from_secs(20), &mut task)
        .await
        .context("bare publisher did not stop")?
        .context("bare publisher task")??;
    Ok(phase_of(publisher, stats, cpu))
}

async fn gateway_phase(s: &Settings, gw: &mut Gateway, pids: &Pids) -> Result<ThroughputPhase> {
    let start = Instant::now();
    let from = start + s.warmup;
    let until = from + s.window;
    let load = http_load::Load::new(gw.addr(), s, from, until);
    let mut task = tokio::spawn(http_load::run(load));
    let (cpu, internal) = measure_window(pids, gw, from, until, Some("http")).await?;
    let stats = tokio::time::timeout(Duration::from_secs(20), &mut task)
        .await
        .context("HTTP load did not stop")?
        .context("HTTP load task")??;
    Ok(ThroughputPhase {
        internal,
        ..phase_of(Publisher::Gateway, stats, cpu)
    })
}

fn phase_of(publisher: Publisher, stats: LoadStats, cpu: CpuUse) -> ThroughputPhase {
    ThroughputPhase {
        publisher,
        round: 0,
        confirmed: stats.ok_in_window,
        rate: stats.ok_in_window as f64 / cpu.window_secs.max(1e-9),
        hist: stats.hist,
        refused: stats.refused,
        errors: stats.errors,
        cpu,
        purged_before: 0,
        internal: None,
    }
}
