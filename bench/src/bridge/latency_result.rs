//! What the latency comparison (S4) measured: every path, the figures derived from them, and
//! the gateway path split at Mosquitto.

use anyhow::Result;

use super::record::{self, Recorder};
use super::window::{CpuUse, Internal};
use crate::fanout::Latency;

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
    pub fn id(self) -> u64 {
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
    pub fn of(observer: &Recorder, consumer: &Recorder, sent: u64) -> Result<Self> {
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
