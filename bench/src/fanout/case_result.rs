//! The figures of one fan-out case, and the subscribers' checks tallied into them.

use std::collections::BTreeMap;

use anyhow::Result;

use super::Latency;
use super::window::Measured;
use crate::publisher::Outcome;
use crate::subscriber::{Kind, Shared, SubStats};
use crate::sysinfo;

/// The figures of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub kind: Kind,
    pub n: usize,
    /// Offered publish rate, events per second.
    pub rate: f64,
    pub published: u64,
    pub refused: u64,
    pub publisher_max_lag_ms: f64,
    pub connect_secs: f64,
    pub window_secs: f64,
    pub deliveries_in_window: u64,
    pub deliveries_per_sec: f64,
    pub latency: Option<Latency>,
    /// Events a subscriber that stayed connected never received (gaps and a missing tail).
    pub lost: u64,
    /// Events published after a subscriber was disconnected (not counted as lost).
    pub missed_after_disconnect: u64,
    pub dups: u64,
    pub malformed: u64,
    /// Disconnect reasons and how many subscribers ended with each.
    pub disconnects: BTreeMap<String, usize>,
    pub gateway_cpu_secs: f64,
    pub cpu_secs_per_million: f64,
    /// Gateway CPU over the window, as a fraction of one core.
    pub gateway_cpu_util: f64,
    /// This process's CPU over the window, as a fraction of one core.
    pub bench_cpu_util: f64,
    /// CPU used by everything else on the machine over the window, fraction of one core.
    pub other_cpu_util: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub events_per_read: f64,
    /// Gateway write syscalls in the window (perf), if measured.
    pub write_syscalls: Option<u64>,
    /// Deliveries per write syscall, the POST responses' writes subtracted (perf).
    pub events_per_write: Option<f64>,
    pub errors: Vec<String>,
}

impl CaseResult {
    /// A performance figure only counts when nothing was lost or cut off.
    pub fn valid(&self) -> bool {
        self.lost == 0
            && self.dups == 0
            && self.malformed == 0
            && self.disconnects.is_empty()
            && self.errors.is_empty()
            && self.published > 0
    }

    /// The window's figures; the subscribers' checks and the latency are added afterwards.
    pub fn new(
        kind: Kind,
        n: usize,
        rate: f64,
        connect_secs: f64,
        measured: &Measured,
        outcome: &Outcome,
        memory_kib: (u64, u64),
    ) -> Self {
        let (before, after) = (&measured.before, &measured.after);
        let write_syscalls = measured.write_syscalls;
        let (rss_kib, hwm_kib) = memory_kib;
        let ticks = sysinfo::clock_ticks_per_sec() as f64;
        let window_secs = (after.at - before.at).as_secs_f64();
        let deliveries = after.delivered - before.delivered;
        let gateway_cpu_secs = (after.gateway_ticks - before.gateway_ticks) as f64 / ticks;
        let bench_secs = (after.bench_ticks - before.bench_ticks) as f64 / ticks;
        let system_secs = (after.system_ticks - before.system_ticks) as f64 / ticks;
        let posts = after.accepted - before.accepted;
        Self {
            kind,
            n,
            rate,
            published: outcome.total_sent(),
            refused: outcome.refused,
            publisher_max_lag_ms: outcome.max_lag_us as f64 / 1000.0,
            connect_secs,
            window_secs,
            deliveries_in_window: deliveries,
            deliveries_per_sec: deliveries as f64 / window_secs,
            latency: None,
            lost: 0,
            missed_after_disconnect: 0,
            dups: 0,
            malformed: 0,
            disconnects: BTreeMap::new(),
            gateway_cpu_secs,
            cpu_secs_per_million: gateway_cpu_secs / (deliveries.max(1) as f64 / 1e6),
            gateway_cpu_util: gateway_cpu_secs / window_secs,
            bench_cpu_util: bench_secs / window_secs,
            other_cpu_util: (system_secs - gateway_cpu_secs - bench_secs).max(0.0) / window_secs,
            rss_kib,
            hwm_kib,
            events_per_read: 0.0,
            write_syscalls,
            events_per_write: write_syscalls
                .map(|w| deliveries as f64 / w.saturating_sub(posts).max(1) as f64),
            errors: outcome.errors.clone(),
        }
    }
}

/// Adds the subscribers' sequence checks, disconnects and read counts to `result`.
pub fn tally(result: &mut CaseResult, stats: &[SubStats], sent_per_stream: &[u64], n: usize) {
    let (mut events, mut reads) = (0u64, 0u64);
    for sub in stats {
        result.lost += sub.gaps;
        let tail = sub.tail(sent_per_stream);
        if sub.closed.is_some() {
            result.missed_after_disconnect += tail;
        } else {
            result.lost += tail;
        }
        result.dups += sub.dups;
        result.malformed += sub.malformed;
        events += sub.events;
        reads += sub.reads;
        if let Some(e) = &sub.connect_error {
            result.errors.push(format!("subscriber: {e}"));
        }
        if let Some(reason) = &sub.closed {
            *result.disconnects.entry(short(reason)).or_default() += 1;
        }
    }
    if stats.len() < n {
        result.errors.push(format!(
            "{} subscriber tasks did not finish",
            n - stats.len()
        ));
    }
    result.events_per_read = events as f64 / reads.max(1) as f64;
}

/// Percentiles of the latencies recorded in the window, if any.
pub fn latency(shared: &Shared) -> Result<Option<Latency>> {
    let hist = shared.latency_us()?;
    Ok((!hist.is_empty()).then(|| Latency {
        samples: hist.len(),
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
    }))
}

/// A disconnect reason cut to a table-friendly length.
fn short(reason: &str) -> String {
    let mut out: String = reason.chars().take(70).collect();
    if reason.chars().count() > 70 {
        out.push('…');
    }
    out
}
