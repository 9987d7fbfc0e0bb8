//! Broker bridges (benchmark plan S1 and S4, `shared/reliability.md` 2.4), each against the
//! direct path measured in the same run.
//!
//! - **Confirmed throughput** (S1): `W` keep-alive HTTP/1.1 connections POST 256-byte
//!   structured CloudEvents to `/topics/t` as fast as the 200s come back; the gateway publishes
//!   each to a fresh durable exchange → durable classic queue (binary mode, persistent,
//!   mandatory) and answers only after the broker's confirm. Baseline: a bare lapin publisher
//!   keeping `W` persistent, mandatory publishes awaiting their confirms on one channel. The
//!   queue has no consumer; it is purged before every phase so no phase runs against a
//!   backlog left by the previous one. Phases alternate (bare, gateway, gateway, bare, ...).
//! - **Latency** (S4): open loop at a fixed rate, latency = receive time − send timestamp in
//!   the payload (one clock): (a) rumqttc QoS 1 → Mosquitto → rumqttc subscriber, (b) lapin
//!   (persistent, mandatory, confirms) → RabbitMQ → lapin consumer, (c) rumqttc QoS 1 →
//!   Mosquitto → gateway MQTT inbound → gateway AMQP outbound (confirms) → RabbitMQ → lapin
//!   consumer. Every message carries a sequence number: lost or duplicated messages make a
//!   path's result invalid. A fourth, diagnostic run repeats (c) with a bench MQTT subscriber
//!   on the same topic, which splits each message's latency at Mosquitto.
//!
//! The gateway runs with a generated configuration file (`--config`), one process per part.
//! Names (exchange, queue, MQTT topics and client ids) are unique per run; the exchange and
//! the queue are deleted at the end (and expire by themselves if the run dies).

mod http_load;
mod mqtt;
mod rabbit;
mod record;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use lapin::BasicProperties;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::fanout::Latency;
use crate::gateway::{Gateway, Launch};
use crate::subscriber::Clock;
use crate::{conn, sysinfo};
use mqtt::Broker;
use rabbit::{LoadStats, OpenLoopStats, Topology};
use record::Recorder;

/// Confirmed-rate target (gateway / bare lapin), from the task's brief (plan G1a asks 0.6).
pub const THROUGHPUT_TARGET: f64 = 0.8;
/// Added p50 target, ms (G4b).
pub const ADDED_P50_TARGET_MS: f64 = 0.2;
/// p99 ratio target (G4a).
pub const P99_RATIO_TARGET: f64 = 1.5;
/// Max ratio target (G4c).
pub const MAX_RATIO_TARGET: f64 = 2.0;

/// Longest wait for the gateway's brokers to be connected (`/readyz`).
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the last messages of a latency path.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// A latency path stops waiting when nothing arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

/// Parameters of the bridge benchmarks.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warmup: Duration,
    pub window: Duration,
    /// Publishes awaiting confirms at once, = HTTP connections.
    pub confirm_window: usize,
    pub event_bytes: usize,
    /// Latency paths: messages per second.
    pub rate: f64,
    /// Throughput: bare/gateway pairs.
    pub rounds: usize,
    pub amqp_url: String,
    pub mqtt_url: String,
}

/// An open-loop schedule: message `i` is due at `start + i * interval`, until `until`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub interval: Duration,
    pub until: Instant,
    pub path: u64,
    pub clock: Clock,
    pub event_bytes: usize,
}

impl Schedule {
    pub fn due(&self, i: u64) -> Instant {
        let ns = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        self.start + Duration::from_nanos(ns.saturating_mul(i))
    }
}

/// CPU over a window, as fractions of one core (the gateway's also in seconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub window_secs: f64,
    pub gateway_secs: f64,
    pub gateway: f64,
    pub bench: f64,
    pub rabbit: f64,
    pub mosquitto: f64,
    pub other: f64,
}

/// Who published in a throughput phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    Gateway,
    Bare,
    /// The control: bare lapin publishing a copy of a message the gateway published.
    BareGatewayMessage,
}

impl Publisher {
    pub fn label(self) -> &'static str {
        match self {
            Self::Gateway => "gateway HTTP->AMQP",
            Self::Bare => "bare lapin",
            Self::BareGatewayMessage => "bare lapin, gw's msg",
        }
    }
}

/// One closed-loop throughput phase.
#[derive(Debug, Clone)]
pub struct ThroughputPhase {
    pub publisher: Publisher,
    pub round: usize,
    /// Confirmed (bare) or answered 200 (gateway) inside the window.
    pub confirmed: u64,
    pub rate: f64,
    pub hist: Histogram<u64>,
    pub refused: u64,
    pub errors: Vec<String>,
    pub cpu: CpuUse,
    /// Messages the queue held when it was purged before this phase.
    pub purged_before: u32,
    /// The gateway's own delivery time over the window.
    pub internal: Option<Internal>,
}

impl ThroughputPhase {
    pub fn latency(&self) -> Option<Latency> {
        record::summarize(&self.hist)
    }

    pub fn valid(&self) -> bool {
        self.errors.is_empty() && self.refused == 0 && self.confirmed > 0
    }
}

/// Figures of one publisher pooled over every round.
#[derive(Debug, Clone)]
pub struct Pooled {
    pub rate: f64,
    pub latency: Option<Latency>,
    pub mean_ms: f64,
    pub cpu_secs_per_million: f64,
    pub gateway_util: f64,
    pub rabbit_util: f64,
    pub bench_util: f64,
    pub other_util: f64,
    pub valid: bool,
}

/// The confirmed-throughput comparison.
#[derive(Debug, Clone)]
pub struct ThroughputResult {
    pub phases: Vec<ThroughputPhase>,
    /// One message the gateway published, as the queue held it.
    pub gateway_message: Option<String>,
    pub bare_message: String,
}

impl ThroughputResult {
    /// Rates and latency pooled over the rounds (total confirmed / total window time, merged
    /// histograms).
    pub fn pooled(&self, publisher: Publisher) -> Option<Pooled> {
        let phases: Vec<&ThroughputPhase> = self
            .phases
            .iter()
            .filter(|p| p.publisher == publisher)
            .collect();
        if phases.is_empty() {
            return None;
        }
        let secs: f64 = phases.iter().map(|p| p.cpu.window_secs).sum();
        let confirmed: u64 = phases.iter().map(|p| p.confirmed).sum();
        let mut hist = record::histogram().ok()?;
        for p in &phases {
            hist.add(&p.hist).ok()?;
        }
        let util = |f: fn(&CpuUse) -> f64| {
            phases
                .iter()
                .map(|p| f(&p.cpu) * p.cpu.window_secs)
                .sum::<f64>()
                / secs.max(1e-9)
        };
        let gateway_secs: f64 = phases.iter().map(|p| p.cpu.gateway_secs).sum();
        Some(Pooled {
            rate: confirmed as f64 / secs.max(1e-9),
            latency: record::summarize(&hist),
            mean_ms: hist.mean() / 1000.0,
            cpu_secs_per_million: gateway_secs / (confirmed.max(1) as f64 / 1e6),
            gateway_util: util(|c| c.gateway),
            rabbit_util: util(|c| c.rabbit),
            bench_util: util(|c| c.bench),
            other_util: util(|c| c.other),
            valid: phases.iter().all(|p| p.valid()),
        })
    }

    /// Gateway rate / bare rate, pooled.
    pub fn ratio(&self) -> Option<f64> {
        self.ratio_to(Publisher::Bare)
    }

    /// Gateway rate / `baseline`'s rate, pooled.
    pub fn ratio_to(&self, baseline: Publisher) -> Option<f64> {
        let gateway = self.pooled(Publisher::Gateway)?;
        let bare = self.pooled(baseline)?;
        (bare.rate > 0.0).then(|| gateway.rate / bare.rate)
    }
}

/// The three latency paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    DirectMqtt,
    DirectAmqp,
    Gateway,
    /// The gateway path again, with an MQTT observer (diagnostic only).
    GatewayObserved,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Self::DirectMqtt => "direct MQTT",
            Self::DirectAmqp => "direct AMQP",
            Self::Gateway => "MQTT->gateway->AMQP",
            Self::GatewayObserved => "same, + MQTT observer",
        }
    }

    /// The number in the payload's `p` field, so a path never counts another's messages.
    fn id(self) -> u64 {
        match self {
            Self::DirectMqtt => 1001,
            Self::DirectAmqp => 1002,
            Self::Gateway => 1003,
            Self::GatewayObserved => 1004,
        }
    }
}

/// One latency path.
#[derive(Debug, Clone)]
pub struct PathResult {
    pub path: Path,
    pub sent: u64,
    /// PUBACKs (MQTT publishers) or confirms (lapin publisher).
    pub acked: u64,
    pub received: u64,
    pub lost: u64,
    pub dups: u64,
    /// Messages of another path or without a probe.
    pub foreign: u64,
    pub latency: Option<Latency>,
    /// Mean latency of the window's messages, ms.
    pub mean_ms: f64,
    pub max_lag_ms: f64,
    pub cpu: CpuUse,
    /// Messages sent inside the window (latency samples).
    pub window_messages: u64,
    /// The gateway's own delivery time over the window.
    pub internal: Option<Internal>,
    pub errors: Vec<String>,
}

impl PathResult {
    /// A result with any loss, duplicate or error does not count.
    pub fn valid(&self) -> bool {
        self.lost == 0
            && self.dups == 0
            && self.errors.is_empty()
            && self.sent > 0
            && self.acked == self.sent
            && self.latency.is_some()
    }

    pub fn cpu_secs_per_million(&self) -> f64 {
        self.cpu.gateway_secs / (self.window_messages.max(1) as f64 / 1e6)
    }
}

/// The latency comparison.
#[derive(Debug, Clone)]
pub struct LatencyResult {
    pub mqtt: Result<PathResult, String>,
    pub amqp: Result<PathResult, String>,
    pub gateway: Result<PathResult, String>,
    /// The diagnostic run of the gateway path with an MQTT observer.
    pub split: Result<Split, String>,
}

/// The gateway path split at Mosquitto, from a separate run in which a bench MQTT subscriber
/// (the observer) also receives every message: publish -> observer is the MQTT leg,
/// observer -> AMQP consumer is the gateway plus the AMQP leg (per message, same clock).
#[derive(Debug, Clone)]
pub struct Split {
    /// The run's end-to-end figures (path `GatewayObserved`).
    pub observed: PathResult,
    pub legs: Legs,
}

/// Per-message latency on each side of Mosquitto.
#[derive(Debug, Clone)]
pub struct Legs {
    pub mqtt_leg: Option<Latency>,
    pub after_mosquitto: Option<Latency>,
    /// Messages the observer missed or got twice.
    pub observer_lost: u64,
    pub observer_dups: u64,
}

impl Legs {
    fn of(observer: &Recorder, consumer: &Recorder, sent: u64) -> Result<Self> {
        let mut after = record::histogram()?;
        for (seq, _, arrived) in consumer.window_arrivals() {
            if let Some(seen) = observer.arrival(seq) {
                record::record_ns(&mut after, arrived.saturating_sub(seen));
            }
        }
        Ok(Self {
            mqtt_leg: record::summarize(&observer.hist),
            after_mosquitto: record::summarize(&after),
            observer_lost: observer.lost(sent),
            observer_dups: observer.dups,
        })
    }
}

/// Figures derived from the three paths (valid or not: see [`LatencyResult::valid`]).
#[derive(Debug, Clone, Copy)]
pub struct LatencyFigures {
    pub added_p50_ms: f64,
    pub p99_ratio: f64,
    pub max_ratio: f64,
}

impl LatencyResult {
    pub fn figures(&self) -> Option<LatencyFigures> {
        let (Ok(m), Ok(a), Ok(g)) = (&self.mqtt, &self.amqp, &self.gateway) else {
            return None;
        };
        let (m, a, g) = (m.latency?, a.latency?, g.latency?);
        let ms = |us: u64| us as f64 / 1000.0;
        Some(LatencyFigures {
            added_p50_ms: ms(g.p50_us) - (ms(m.p50_us) + ms(a.p50_us)),
            p99_ratio: g.p99_us as f64 / (m.p99_us + a.p99_us).max(1) as f64,
            max_ratio: g.max_us as f64 / (m.max_us + a.max_us).max(1) as f64,
        })
    }

    /// Whether every path is valid (no loss, duplicates or errors).
    pub fn valid(&self) -> bool {
        [&self.mqtt, &self.amqp, &self.gateway]
            .iter()
            .all(|r| r.as_ref().is_ok_and(PathResult::valid))
    }
}

/// Everything the bridge benchmarks measured.
#[derive(Debug, Clone)]
pub struct BridgeResult {
    pub settings: Settings,
    pub exchange: String,
    pub queue: String,
    pub throughput: Result<ThroughputResult, String>,
    pub latency: Result<LatencyResult, String>,
    /// Deleting the exchange and queue failed.
    pub cleanup_error: Option<String>,
}

impl BridgeResult {
    /// Every part ran (the diagnostic split aside); its figures may still be invalid.
    pub fn ok(&self) -> bool {
        self.throughput.is_ok()
            && self
                .latency
                .as_ref()
                .is_ok_and(|l| l.mqtt.is_ok() && l.amqp.is_ok() && l.gateway.is_ok())
    }
}

/// Runs both comparisons, each under its own time limit, and removes what it declared.
pub async fn run(launch: &Launch, s: &Settings) -> BridgeResult {
    let tag = unique_tag();
    let mut result = BridgeResult {
        settings: s.clone(),
        exchange: String::new(),
        queue: String::new(),
        throughput: Err("not run".into()),
        latency: Err("not run".into()),
        cleanup_error: None,
    };
    let topology = match Topology::declare(&s.amqp_url, &tag).await {
        Ok(t) => t,
        Err(e) => {
            let e = format!("RabbitMQ setup: {e:#}");
            result.throughput = Err(e.clone());
            result.latency = Err(e);
            return result;
        }
    };
    result.exchange = topology.exchange.clone();
    result.queue = topology.queue.clone();
    let phase = s.warmup + s.window;
    // Two phases per round and the control phase.
    let limit = phase.mul_f64(2.0 * s.rounds.max(1) as f64 + 1.0) + Duration::from_secs(60);
    result.throughput = bounded(limit, throughput(launch, s, &topology, &tag)).await;
    let limit = phase * 4 + DRAIN_LIMIT * 4 + Duration::from_secs(60);
    result.latency = bounded(limit, latency(launch, s, &topology, &tag)).await;
    result.cleanup_error = topology.delete().await.err().map(|e| format!("{e:#}"));
    result
}

async fn bounded<T>(limit: Duration, fut: impl Future<Output = Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

/// A tag for this run's names: process id and time.
fn unique_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

// ---------------------------------------------------------------------------------------------
// Confirmed throughput (S1)

async fn throughput(
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
                Publisher::Gateway => gateway_phase(s, &mut gw, &pids).await?,
                _ => {
                    let message = bare_message.clone();
                    bare_phase(s, &channel, topology, publisher, message, &pids, &mut gw).await?
                }
            };
            out.phases.push(ThroughputPhase {
                round,
                purged_before,
                ..phase
            });
            if publisher == Publisher::Gateway && gateway_sample.is_none() {
                gateway_sample = topology.sample_one().await?;
            }
        }
    }
    // The control: the bare publisher sending exactly what the gateway sent (its body,
    // headers and properties), to tell the message's shape from the gateway's own cost.
    if let Some(sample) = gateway_sample {
        out.gateway_message = Some(sample.description.clone());
        let purged_before = topology.purge().await?;
        let publisher = Publisher::BareGatewayMessage;
        let message = (sample.body, sample.properties);
        let phase = bare_phase(s, &channel, topology, publisher, message, &pids, &mut gw).await?;
        out.phases.push(ThroughputPhase {
            round: s.rounds.max(1),
            purged_before,
            ..phase
        });
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
    let load = http_load::Load {
        server: gw.addr(),
        connections: s.confirm_window,
        event_bytes: s.event_bytes,
        clock: Clock::new(),
        from,
        until,
    };
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

// ---------------------------------------------------------------------------------------------
// Latency (S4)

async fn latency(
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

/// The parts every latency path shares: a recorder, a schedule, the window.
struct PathRun {
    recorder: Arc<Mutex<Recorder>>,
    schedule: Schedule,
    from: Instant,
    until: Instant,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
}

impl PathRun {
    /// The schedule starts `lead` from now, to leave time for connecting the publisher.
    fn new(s: &Settings, path: Path, lead: Duration) -> Result<Self> {
        let clock = Clock::new();
        let start = Instant::now() + lead;
        let from = start + s.warmup;
        let until = from + s.window;
        let from_ns = clock.now_ns() + (lead + s.warmup).as_nanos() as u64;
        let to_ns = from_ns + s.window.as_nanos() as u64;
        let recorder = Recorder::new(clock, path.id(), from_ns, to_ns)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        Ok(Self {
            recorder: Arc::new(Mutex::new(recorder)),
            schedule: Schedule {
                start,
                interval: Duration::from_secs_f64(1.0 / s.rate.max(1.0)),
                until,
                path: path.id(),
                clock,
                event_bytes: s.event_bytes,
            },
            from,
            until,
            stop_tx,
            stop_rx,
        })
    }

    /// Waits for the receiver to have everything, then stops it and tallies.
    async fn finish(
        self,
        path: Path,
        published: OpenLoopStats,
        receiver: tokio::task::JoinHandle<Result<()>>,
        cpu: CpuUse,
    ) -> PathResult {
        let mut errors = published.errors;
        drain(&self.recorder, published.sent).await;
        let _ = self.stop_tx.send(true);
        match tokio::time::timeout(Duration::from_secs(5), receiver).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => errors.push(format!("receiver: {e:#}")),
            Ok(Err(e)) => errors.push(format!("receiver task: {e}")),
            Err(_) => errors.push("receiver did not stop".into()),
        }
        let rec = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if published.acked != published.sent {
            errors.push(format!(
                "{} of {} publishes were not acknowledged by the broker",
                published.sent - published.acked.min(published.sent),
                published.sent
            ));
        }
        PathResult {
            path,
            sent: published.sent,
            acked: published.acked,
            received: rec.received,
            lost: rec.lost(published.sent),
            dups: rec.dups,
            foreign: rec.foreign,
            latency: record::summarize(&rec.hist),
            mean_ms: rec.hist.mean() / 1000.0,
            max_lag_ms: published.max_lag_us as f64 / 1000.0,
            cpu,
            window_messages: rec.hist.len(),
            internal: None,
            errors,
        }
    }
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
        Some((recorder, task))
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
        Some((recorder, task)) => {
            // `finish` stopped every receiver of the run (they share the stop signal).
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => result.errors.push(format!("observer: {e:#}")),
                _ => result.errors.push("observer did not stop".into()),
            }
            let observer = recorder.lock().unwrap_or_else(|e| e.into_inner());
            let consumer = consumer.lock().unwrap_or_else(|e| e.into_inner());
            Some(Legs::of(&observer, &consumer, sent)?)
        }
    };
    Ok((result, split))
}

async fn join_publisher(
    task: tokio::task::JoinHandle<Result<OpenLoopStats>>,
) -> Result<OpenLoopStats> {
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .context("publisher did not stop")?
        .context("publisher task")?
}

/// Waits until `expected` distinct messages arrived, none arrived for a while, or the limit
/// passed.
async fn drain(recorder: &Mutex<Recorder>, expected: u64) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let count = || recorder.lock().unwrap_or_else(|e| e.into_inner()).received;
    let unique = || recorder.lock().unwrap_or_else(|e| e.into_inner()).unique;
    let mut last = count();
    let mut last_change = Instant::now();
    while Instant::now() < deadline && unique() < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = count();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= DRAIN_QUIET {
            return;
        }
    }
    // A short grace for duplicates that may trail the last original.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

// ---------------------------------------------------------------------------------------------
// The gateway and CPU accounting

/// A generated gateway configuration, removed when dropped.
#[derive(Debug)]
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn write(name: &str, yaml: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("switchyard-bench-{name}.yaml"));
        std::fs::write(&path, yaml).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the gateway with `config` and waits until `/readyz` says its brokers are connected.
async fn start_gateway(launch: &Launch, config: &ConfigFile) -> Result<Gateway> {
    let launched = Launch {
        config: Some(config.0.clone()),
        ..launch.clone()
    };
    let mut gw = tokio::task::spawn_blocking(move || Gateway::start(&launched))
        .await
        .context("gateway start task")??;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        gw.ensure_alive()?;
        match conn::http_get(gw.addr(), "/readyz").await {
            Ok(_) => return Ok(gw),
            Err(e) if Instant::now() >= deadline => {
                bail!("gateway not ready within {READY_TIMEOUT:?}: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The gateway's own account of deliveries in a window: `switchyard_event_delivery_seconds`
/// (pipeline entry -> every sink confirmed) for one inbound, from its `_sum` and `_count`.
#[derive(Debug, Clone, Copy)]
pub struct Internal {
    pub events: u64,
    pub mean_ms: f64,
}

/// `(sum of seconds, count)` of `switchyard_event_delivery_seconds{inbound}` so far (0 before
/// the first event).
async fn delivery_totals(gw: &Gateway, inbound: &str) -> Option<(f64, f64)> {
    let body = conn::http_get(gw.addr(), "/metrics").await.ok()?;
    let text = String::from_utf8_lossy(&body);
    let label = format!("{{inbound=\"{inbound}\"}}");
    let value = |name: &str| {
        let key = format!("{name}{label}");
        text.lines()
            .find_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                (k == key).then(|| v.trim().parse::<f64>().ok())?
            })
            .unwrap_or(0.0)
    };
    Some((
        value("switchyard_event_delivery_seconds_sum"),
        value("switchyard_event_delivery_seconds_count"),
    ))
}

/// Processes whose CPU is accounted separately.
#[derive(Debug, Clone, Copy)]
struct Pids {
    gateway: Option<u32>,
    rabbit: Option<u32>,
    mosquitto: Option<u32>,
}

impl Pids {
    fn find(gateway: Option<u32>) -> Self {
        Self {
            gateway,
            rabbit: sysinfo::pid_of("beam.smp", Some("rabbit")),
            mosquitto: sysinfo::pid_of("mosquitto", None),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct CpuSnap {
    at: Instant,
    gateway: u64,
    bench: u64,
    rabbit: u64,
    mosquitto: u64,
    system: u64,
}

impl CpuSnap {
    fn take(pids: &Pids) -> Result<Self> {
        let ticks = |pid: Option<u32>| {
            pid.and_then(|p| sysinfo::proc_cpu_ticks(&format!("/proc/{p}/stat")).ok())
                .unwrap_or(0)
        };
        Ok(Self {
            at: Instant::now(),
            gateway: ticks(pids.gateway),
            bench: sysinfo::proc_cpu_ticks("/proc/self/stat")?,
            rabbit: ticks(pids.rabbit),
            mosquitto: ticks(pids.mosquitto),
            system: sysinfo::system_busy_ticks()?,
        })
    }

    fn until(self, after: Self) -> CpuUse {
        let hz = sysinfo::clock_ticks_per_sec() as f64;
        let secs = (after.at - self.at).as_secs_f64().max(1e-9);
        let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / hz;
        let gateway = d(after.gateway, self.gateway);
        let bench = d(after.bench, self.bench);
        let rabbit = d(after.rabbit, self.rabbit);
        let mosquitto = d(after.mosquitto, self.mosquitto);
        let system = d(after.system, self.system);
        CpuUse {
            window_secs: secs,
            gateway_secs: gateway,
            gateway: gateway / secs,
            bench: bench / secs,
            rabbit: rabbit / secs,
            mosquitto: mosquitto / secs,
            other: (system - gateway - bench - rabbit - mosquitto).max(0.0) / secs,
        }
    }
}

/// CPU over `[from, until)`, failing as soon as the gateway exits; with `inbound`, also the
/// gateway's own delivery time for it over the same window.
async fn measure_window(
    pids: &Pids,
    gw: &mut Gateway,
    from: Instant,
    until: Instant,
    inbound: Option<&str>,
) -> Result<(CpuUse, Option<Internal>)> {
    let watch_gateway = inbound.is_some();
    sleep_watching(gw, from, watch_gateway).await?;
    let before = CpuSnap::take(pids)?;
    let totals_before = match inbound {
        Some(i) => delivery_totals(gw, i).await,
        None => None,
    };
    sleep_watching(gw, until, watch_gateway).await?;
    let cpu = before.until(CpuSnap::take(pids)?);
    let totals_after = match inbound {
        Some(i) => delivery_totals(gw, i).await,
        None => None,
    };
    let internal = match (totals_before, totals_after) {
        (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => Some(Internal {
            events: (c1 - c0) as u64,
            mean_ms: (s1 - s0) / (c1 - c0) * 1000.0,
        }),
        _ => None,
    };
    Ok((cpu, internal))
}

async fn measure_window_plain(pids: &Pids, from: Instant, until: Instant) -> Result<CpuUse> {
    tokio::time::sleep_until(from).await;
    let before = CpuSnap::take(pids)?;
    tokio::time::sleep_until(until).await;
    Ok(before.until(CpuSnap::take(pids)?))
}

async fn sleep_watching(gw: &mut Gateway, until: Instant, watch_gateway: bool) -> Result<()> {
    loop {
        if watch_gateway {
            gw.ensure_alive()?;
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}
