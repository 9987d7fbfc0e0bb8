//! Fan-out: publish → hub → N subscribers (SSE or WebSocket), one fresh gateway per case.
//!
//! A case connects N subscribers, waits until the hub counts them, then publishes at a fixed
//! rate for a warm-up and a measurement window. Over the window it measures deliveries per
//! second (by receive time), the delivery latency of events sent in the window, the gateway's
//! CPU time per million deliveries and its memory; afterwards it drains, and checks every
//! subscriber's sequence numbers for loss and duplicates. Write coalescing is measured with
//! `perf stat` on the gateway's write syscalls when perf works, and always with the client-side
//! proxy "events per read".

mod case_result;
pub(crate) mod clients;
mod perf;
mod window;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::gateway::{Gateway, Launch};
use crate::publisher::{self, Outcome, Plan, Progress};
use crate::subscriber::{Clock, Kind, Shared};

pub use case_result::CaseResult;

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
    let connect_start = Instant::now();
    let mut subscribers = clients::spawn(&gw, s, kind, n, &shared, &stop_rx);
    let connect_limit = Duration::from_secs(20) + Duration::from_millis(3 * n as u64);
    clients::wait_connected(&mut gw, &shared, &mut subscribers, n, connect_limit).await?;
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
    let mut publishing = start_publishing(&gw, s, clock, rate, window_end, &progress);

    let measured = window::measure(
        &mut gw,
        &shared,
        &progress,
        window_start,
        window_end,
        s.window,
    )
    .await?;

    let outcome = tokio::time::timeout(PUBLISH_GRACE, publishing.join_next())
        .await
        .context("publisher did not stop")?
        .context("publisher task missing")?
        .context("publisher task")?;
    clients::drain(&shared, outcome.total_sent() * n as u64).await;
    let memory_kib = gw.memory_kib()?;
    let _ = stop_tx.send(true);
    let stats = clients::collect(&mut subscribers).await;
    drop(gw);

    let mut result = CaseResult::new(kind, n, rate, connect_secs, &measured, &outcome, memory_kib);
    case_result::tally(&mut result, &stats, &outcome.sent_per_stream, n);
    result.latency = case_result::latency(&shared)?;
    Ok(result)
}

/// Publishes at `rate` until `until`, in a JoinSet so that an early return (gateway died) or
/// the case's time limit stops it.
fn start_publishing(
    gw: &Gateway,
    s: &Settings,
    clock: Clock,
    rate: f64,
    until: Instant,
    progress: &Arc<Progress>,
) -> JoinSet<Outcome> {
    let mut publishing = JoinSet::new();
    publishing.spawn(publisher::run(
        Plan {
            server: gw.addr(),
            clock,
            streams: s.publishers,
            rate,
            until,
            event_bytes: s.event_bytes,
        },
        progress.clone(),
    ));
    publishing
}
