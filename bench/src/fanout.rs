//! Fan-out: publish → hub → N subscribers (SSE or WebSocket), one fresh gateway per case.
//!
//! A case connects N subscribers, waits until the hub counts them, then publishes at a fixed
//! rate for a warm-up and a measurement window. Over the window it measures deliveries per
//! second (by receive time), the delivery latency of events sent in the window, the gateway's
//! CPU time per million deliveries and its memory; afterwards it drains, and checks every
//! subscriber's sequence numbers for loss and duplicates. Write coalescing is measured with
//! `perf stat` on the gateway's write syscalls when perf works, and always with the client-side
//! proxy "events per read".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::gateway::{Gateway, Launch};
use crate::publisher::{self, Plan, Progress};
use crate::subscriber::{self, Clock, Kind, Shared, Spec, SubStats};
use crate::{conn, sysinfo};

/// Subscribers connecting at once (keeps the gateway's accept backlog from overflowing).
const CONNECT_CONCURRENCY: usize = 128;
/// Longest wait for publishing to end after its window.
const PUBLISH_GRACE: Duration = Duration::from_secs(10);
/// Longest wait for the last deliveries after publishing stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Deliveries stop being awaited when none arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_secs(1);

/// Parameters shared by every fan-out case.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warmup: Duration,
    pub window: Duration,
    /// Highest publish rate, events per second.
    pub max_rate: f64,
    pub publishers: usize,
    pub source_addrs: usize,
    pub event_bytes: usize,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

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
}

/// One case: `n` subscribers of `kind`, published to at `offered / n` events per second.
pub async fn run_case(
    launch: &Launch,
    s: &Settings,
    kind: Kind,
    n: usize,
    offered: f64,
) -> Result<CaseResult> {
    let launched = launch.clone();
    let mut gw = tokio::task::spawn_blocking(move || Gateway::start(&launched))
        .await
        .context("gateway start task")??;
    let clock = Clock::new();
    let shared = Shared::new(clock)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut subscribers = JoinSet::new();
    let connect_start = Instant::now();
    for index in 0..n {
        let spec = Spec {
            kind,
            index,
            source: conn::source_addr(index, s.source_addrs),
            server: gw.addr(),
            streams: s.publishers,
        };
        subscribers.spawn(subscriber::run(
            spec,
            shared.clone(),
            permits.clone(),
            stop_rx.clone(),
        ));
    }
    let connect_limit = Duration::from_secs(20) + Duration::from_millis(3 * n as u64);
    wait_connected(&mut gw, &shared, &mut subscribers, n, connect_limit).await?;
    gw.wait_subscribers(n, Duration::from_secs(20)).await?;
    let connect_secs = connect_start.elapsed().as_secs_f64();

    let rate = (offered / n as f64).clamp(1.0, s.max_rate);
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let window_start = start + s.warmup;
    let window_end = window_start + s.window;
    let from_ns = clock.now_ns() + s.warmup.as_nanos() as u64;
    shared.window_from.store(from_ns, Ordering::Relaxed);
    shared
        .window_to
        .store(from_ns + s.window.as_nanos() as u64, Ordering::Relaxed);
    // In a JoinSet so that an early return (gateway died) or the case's time limit stops it.
    let mut publishing = JoinSet::new();
    publishing.spawn(publisher::run(
        Plan {
            server: gw.addr(),
            clock,
            streams: s.publishers,
            rate,
            until: window_end,
            event_bytes: s.event_bytes,
        },
        progress.clone(),
    ));

    sleep_watching(&mut gw, window_start).await?;
    let before = Snapshot::take(&gw, &shared, &progress)?;
    let perf = PerfStat::start(gw.pid(), s.window);
    sleep_watching(&mut gw, window_end).await?;
    let after = Snapshot::take(&gw, &shared, &progress)?;
    let write_syscalls = match perf {
        Some(perf) => perf.finish().await,
        None => None,
    };

    let outcome = tokio::time::timeout(PUBLISH_GRACE, publishing.join_next())
        .await
        .context("publisher did not stop")?
        .context("publisher task missing")?
        .context("publisher task")?;
    drain(&shared, outcome.total_sent() * n as u64).await;
    let (rss_kib, hwm_kib) = gw.memory_kib()?;
    let _ = stop_tx.send(true);
    let stats = collect(&mut subscribers).await;
    drop(gw);

    let ticks = sysinfo::clock_ticks_per_sec() as f64;
    let window_secs = (after.at - before.at).as_secs_f64();
    let deliveries = after.delivered - before.delivered;
    let gateway_cpu_secs = (after.gateway_ticks - before.gateway_ticks) as f64 / ticks;
    let bench_secs = (after.bench_ticks - before.bench_ticks) as f64 / ticks;
    let system_secs = (after.system_ticks - before.system_ticks) as f64 / ticks;
    let posts = after.accepted - before.accepted;
    let mut result = CaseResult {
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
    };
    tally(&mut result, &stats, &outcome.sent_per_stream, n);
    result.latency = latency(&shared)?;
    Ok(result)
}

/// Adds the subscribers' sequence checks, disconnects and read counts to `result`.
fn tally(result: &mut CaseResult, stats: &[SubStats], sent_per_stream: &[u64], n: usize) {
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
fn latency(shared: &Shared) -> Result<Option<Latency>> {
    let hist = shared.latency_us()?;
    Ok((!hist.is_empty()).then(|| Latency {
        samples: hist.len(),
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
    }))
}

/// Waits until `n` subscribers are connected; fails fast on the first that could not connect.
async fn wait_connected(
    gw: &mut Gateway,
    shared: &Shared,
    subscribers: &mut JoinSet<SubStats>,
    n: usize,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if shared.connected.load(Ordering::Relaxed) >= n {
            return Ok(());
        }
        gw.ensure_alive()?;
        if let Some(done) = subscribers.try_join_next() {
            let stats = done.context("subscriber task")?;
            bail!(
                "a subscriber ended while connecting: {}",
                stats
                    .connect_error
                    .or(stats.closed)
                    .unwrap_or_else(|| "no reason".into())
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "only {} of {n} subscribers connected within {limit:?}",
                shared.connected.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sleeps until `until`, failing as soon as the gateway exits.
async fn sleep_watching(gw: &mut Gateway, until: Instant) -> Result<()> {
    loop {
        gw.ensure_alive()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}

/// Waits until `expected` deliveries arrived, none arrived for a while, or the limit passed.
async fn drain(shared: &Shared, expected: u64) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut last = shared.delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while Instant::now() < deadline {
        let now = shared.delivered.load(Ordering::Relaxed);
        if now >= expected {
            return;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= DRAIN_QUIET {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every subscriber's statistics (they were told to stop).
async fn collect(subscribers: &mut JoinSet<SubStats>) -> Vec<SubStats> {
    let mut stats = Vec::with_capacity(subscribers.len());
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, subscribers.join_next()).await {
        if let Ok(s) = done {
            stats.push(s);
        }
    }
    subscribers.abort_all();
    stats
}

/// Counters read at the edges of the measurement window.
#[derive(Debug)]
struct Snapshot {
    at: Instant,
    delivered: u64,
    accepted: u64,
    gateway_ticks: u64,
    bench_ticks: u64,
    system_ticks: u64,
}

impl Snapshot {
    fn take(gw: &Gateway, shared: &Shared, progress: &Progress) -> Result<Self> {
        Ok(Self {
            at: Instant::now(),
            delivered: shared.delivered.load(Ordering::Relaxed),
            accepted: progress.accepted.load(Ordering::Relaxed),
            gateway_ticks: gw.cpu_ticks()?,
            bench_ticks: sysinfo::proc_cpu_ticks("/proc/self/stat")?,
            system_ticks: sysinfo::system_busy_ticks()?,
        })
    }
}

/// `perf stat` counting the gateway's write syscalls for one window.
#[derive(Debug)]
struct PerfStat {
    child: tokio::process::Child,
    output: std::path::PathBuf,
    window: Duration,
}

impl PerfStat {
    const EVENTS: &'static str = "syscalls:sys_enter_write,syscalls:sys_enter_writev,\
                                  syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg";

    /// Starts counting; `None` if perf is not available.
    fn start(pid: u32, window: Duration) -> Option<Self> {
        if !sysinfo::have_program("perf") {
            return None;
        }
        let output = std::env::temp_dir().join(format!("switchyard-bench-perf-{pid}.csv"));
        let child = tokio::process::Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                Self::EVENTS,
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(&output)
            .args(["--", "sleep", &format!("{:.3}", window.as_secs_f64())])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        Some(Self {
            child,
            output,
            window,
        })
    }

    /// The summed count, or `None` if perf failed.
    async fn finish(mut self) -> Option<u64> {
        let waited = tokio::time::timeout(self.window + Duration::from_secs(5), self.child.wait());
        let status = waited.await.ok()?.ok()?;
        let text = std::fs::read_to_string(&self.output).ok();
        let _ = std::fs::remove_file(&self.output);
        if !status.success() {
            return None;
        }
        let mut total = 0;
        let mut counted = false;
        for line in text?.lines().filter(|l| l.contains("syscalls:")) {
            let count: u64 = line.split(',').next()?.trim().parse().ok()?;
            total += count;
            counted = true;
        }
        counted.then_some(total)
    }
}

/// A disconnect reason cut to a table-friendly length.
fn short(reason: &str) -> String {
    let mut out: String = reason.chars().take(70).collect();
    if reason.chars().count() > 70 {
        out.push('…');
    }
    out
}
