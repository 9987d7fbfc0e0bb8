//! What the confirmed-throughput comparison (S1) measured: every phase, and each publisher
//! pooled over the rounds.

use hdrhistogram::Histogram;

use super::record;
use super::window::{CpuUse, Internal};
use crate::fanout::Latency;

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
