//! One fan-out case of the gRPC benchmark: a fresh gateway, N subscribers (gRPC `Subscribe`
//! streams or SSE), then the gRPC publisher at a fixed rate for a warm-up and a window. Over
//! the window: deliveries counted at the subscribers and the gateway's CPU time (`/proc`);
//! after a drain, every subscriber's sequence check (loss, duplicates) over the whole run.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::publisher::{self, Plan};
use super::{STREAMS_PER_CHANNEL, Settings, connect, sleep_watching, start_gateway, subscriber};
use crate::bridge::record;
use crate::fanout::{self, Latency, clients};
use crate::gateway::{Gateway, Launch};
use crate::publisher::{Outcome, Progress};
use crate::subscriber::{Clock, Kind, Shared, SubStats};
use crate::sysinfo;

/// Longest wait for publishing to end after its window.
const PUBLISH_GRACE: Duration = Duration::from_secs(10);

/// The subscriber protocol of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribers {
    Grpc,
    Sse,
}

impl fmt::Display for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc => "gRPC",
            Self::Sse => "SSE",
        })
    }
}

/// The figures of one case.
#[derive(Debug, Clone)]
pub struct FanoutCase {
    pub subscribers: Subscribers,
    pub n: usize,
    /// Publish rate, events per second.
    pub rate: f64,
    /// Publishes the gateway accepted, and refused.
    pub published: u64,
    pub refused: u64,
    pub publisher_max_lag_ms: f64,
    pub connect_secs: f64,
    pub window_secs: f64,
    pub deliveries_in_window: u64,
    pub gateway_cpu_secs: f64,
    pub bench_cpu_secs: f64,
    /// CPU used by everything else on the machine over the window.
    pub other_cpu_secs: f64,
    /// Deliveries over the whole run: accepted publishes × N, and what the subscribers got.
    pub expected: u64,
    pub received: u64,
    /// Sequence numbers a subscriber never received (gaps and a missing tail).
    pub lost: u64,
    pub dups: u64,
    pub malformed: u64,
    /// Why subscribers ended early, and how many ended so.
    pub disconnects: BTreeMap<String, usize>,
    pub latency: Option<Latency>,
    pub rss_kib: u64,
    pub errors: Vec<String>,
}

impl FanoutCase {
    pub fn deliveries_per_sec(&self) -> f64 {
        self.deliveries_in_window as f64 / self.window_secs
    }

    /// The headline: deliveries in the window per gateway CPU-second in it.
    pub fn deliveries_per_cpu_sec(&self) -> f64 {
        self.deliveries_in_window as f64 / self.gateway_cpu_secs.max(1e-9)
    }

    /// A figure only counts when nothing was lost, duplicated or cut off.
    pub fn valid(&self) -> bool {
        self.lost == 0
            && self.dups == 0
            && self.malformed == 0
            && self.disconnects.is_empty()
            && self.errors.is_empty()
            && self.published > 0
    }
}

/// Runs one case on a fresh gateway.
pub async fn run_case(
    launch: &Launch,
    s: &Settings,
    subscribers: Subscribers,
    n: usize,
) -> Result<FanoutCase> {
    let mut gw = start_gateway(launch).await?;
    let clock = Clock::new();
    let shared = Shared::new(clock)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_start = Instant::now();
    let mut subs = start_subscribers(&gw, s, subscribers, n, &shared, &stop_rx).await?;
    let limit = Duration::from_secs(20) + Duration::from_millis(3 * n as u64);
    clients::wait_connected(&mut gw, &shared, &mut subs, n, limit).await?;
    gw.wait_subscribers(n, Duration::from_secs(20)).await?;
    let connect_secs = connect_start.elapsed().as_secs_f64();

    let rate = s.rate_for(n);
    let progress = Arc::new(Progress::default());
    let from = Instant::now() + s.warmup;
    let until = from + s.window;
    let from_ns = clock.now_ns() + s.warmup.as_nanos() as u64;
    shared.window_from.store(from_ns, Ordering::Relaxed);
    let to_ns = from_ns + s.window.as_nanos() as u64;
    shared.window_to.store(to_ns, Ordering::Relaxed);
    let client = connect(gw.grpc_addr()?, 1).await?.pop();
    let plan = Plan {
        client: client.context("no publisher connection")?,
        clock,
        streams: s.publishers,
        rate,
        until,
        event_bytes: s.event_bytes,
    };
    let mut publishing = JoinSet::new();
    publishing.spawn(publisher::run(plan, progress));
    let window = measure(&mut gw, &shared, from, until).await?;
    let outcome = tokio::time::timeout(PUBLISH_GRACE, publishing.join_next())
        .await
        .context("publisher did not stop")?
        .context("publisher task missing")?
        .context("publisher task")?;
    clients::drain(&shared, outcome.total_sent() * n as u64).await;
    let rss_kib = gw.memory_kib()?.0;
    let _ = stop_tx.send(true);
    let stats = clients::collect(&mut subs).await;
    drop(gw);
    let mut case = FanoutCase::new(subscribers, n, rate, &window, &outcome, rss_kib);
    case.connect_secs = connect_secs;
    case.tally(&stats, &outcome.sent_per_stream, n);
    case.latency = record::summarize(&shared.latency_us()?);
    Ok(case)
}

/// N subscribers of the case's protocol, connecting.
async fn start_subscribers(
    gw: &Gateway,
    s: &Settings,
    subscribers: Subscribers,
    n: usize,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> Result<JoinSet<SubStats>> {
    Ok(match subscribers {
        Subscribers::Grpc => {
            let channels = n.div_ceil(STREAMS_PER_CHANNEL);
            let clients = connect(gw.grpc_addr()?, channels).await?;
            subscriber::spawn(&clients, STREAMS_PER_CHANNEL, n, s.publishers, shared, stop)
        }
        Subscribers::Sse => {
            let settings = fanout::Settings {
                warmup: s.warmup,
                window: s.window,
                max_rate: s.rate,
                publishers: s.publishers,
                source_addrs: s.source_addrs,
                event_bytes: s.event_bytes,
            };
            clients::spawn(gw, &settings, Kind::Sse, n, shared, stop)
        }
    })
}

/// Counters at the window's edges, subtracted.
#[derive(Debug)]
struct Window {
    secs: f64,
    delivered: u64,
    gateway_ticks: u64,
    bench_ticks: u64,
    system_ticks: u64,
}

/// Sleeps until `from`, then measures until `until`, failing as soon as the gateway exits.
async fn measure(
    gw: &mut Gateway,
    shared: &Shared,
    from: Instant,
    until: Instant,
) -> Result<Window> {
    let snapshot = |gw: &Gateway| -> Result<(Instant, u64, u64, u64, u64)> {
        Ok((
            Instant::now(),
            shared.delivered.load(Ordering::Relaxed),
            gw.cpu_ticks()?,
            sysinfo::proc_cpu_ticks("/proc/self/stat")?,
            sysinfo::system_busy_ticks()?,
        ))
    };
    sleep_watching(gw, from).await?;
    let before = snapshot(gw)?;
    sleep_watching(gw, until).await?;
    let after = snapshot(gw)?;
    Ok(Window {
        secs: (after.0 - before.0).as_secs_f64(),
        delivered: after.1 - before.1,
        gateway_ticks: after.2 - before.2,
        bench_ticks: after.3 - before.3,
        system_ticks: after.4 - before.4,
    })
}

impl FanoutCase {
    fn new(
        subscribers: Subscribers,
        n: usize,
        rate: f64,
        w: &Window,
        outcome: &Outcome,
        rss_kib: u64,
    ) -> Self {
        let ticks = sysinfo::clock_ticks_per_sec() as f64;
        Self {
            subscribers,
            n,
            rate,
            published: outcome.total_sent(),
            refused: outcome.refused,
            publisher_max_lag_ms: outcome.max_lag_us as f64 / 1000.0,
            connect_secs: 0.0,
            window_secs: w.secs,
            deliveries_in_window: w.delivered,
            gateway_cpu_secs: w.gateway_ticks as f64 / ticks,
            bench_cpu_secs: w.bench_ticks as f64 / ticks,
            other_cpu_secs: w
                .system_ticks
                .saturating_sub(w.gateway_ticks + w.bench_ticks) as f64
                / ticks,
            expected: outcome.total_sent() * n as u64,
            received: 0,
            lost: 0,
            dups: 0,
            malformed: 0,
            disconnects: BTreeMap::new(),
            latency: None,
            rss_kib,
            errors: outcome.errors.clone(),
        }
    }

    /// Adds the subscribers' receipts and sequence checks.
    fn tally(&mut self, stats: &[SubStats], sent_per_stream: &[u64], n: usize) {
        for sub in stats {
            self.received += sub.events;
            // A subscriber cut off early lost what followed, too: it counts as loss here.
            self.lost += sub.gaps + sub.tail(sent_per_stream);
            self.dups += sub.dups;
            self.malformed += sub.malformed;
            if let Some(e) = &sub.connect_error {
                self.errors.push(format!("subscriber: {e}"));
            }
            if let Some(reason) = &sub.closed {
                let reason: String = reason.chars().take(70).collect();
                *self.disconnects.entry(reason).or_default() += 1;
            }
        }
        if stats.len() < n {
            let missing = n - stats.len();
            self.errors
                .push(format!("{missing} subscriber tasks did not finish"));
        }
    }
}
