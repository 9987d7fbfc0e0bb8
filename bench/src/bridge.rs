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

mod auth;
mod gateway_config;
mod http_load;
mod latency;
mod latency_result;
mod mqtt;
mod nats;
mod path_run;
mod rabbit;
pub(crate) mod record;
mod rpc;
mod rpc_mqtt;
mod throughput;
mod throughput_result;
mod window;
mod work_queue;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::gateway::Launch;
use rabbit::Topology;

pub use auth::run as run_auth;
pub use latency_result::{LatencyResult, Path, PathResult, Split};
pub use nats::run as run_nats;
pub use path_run::Schedule;
pub use rpc::run as run_rpc;
pub use throughput_result::{Publisher, ThroughputPhase, ThroughputResult};
pub use window::CpuUse;
pub use work_queue::run as run_work_queue;

/// Confirmed-rate target (gateway / bare lapin), from the task's brief (plan G1a asks 0.6).
pub const THROUGHPUT_TARGET: f64 = 0.8;
/// Added p50 target, ms (G4b).
pub const ADDED_P50_TARGET_MS: f64 = 0.2;
/// p99 ratio target (G4a).
pub const P99_RATIO_TARGET: f64 = 1.5;
/// Max ratio target (G4c).
pub const MAX_RATIO_TARGET: f64 = 2.0;

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
    result.throughput = bounded(limit, throughput::run(launch, s, &topology, &tag)).await;
    let limit = phase * 4 + DRAIN_LIMIT * 4 + Duration::from_secs(60);
    result.latency = bounded(limit, latency::run(launch, s, &topology, &tag)).await;
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
