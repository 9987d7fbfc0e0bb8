//! What every latency path (S4) shares: an open-loop schedule, a recorder for the receiving
//! side, the window, and the tally once the last messages arrived.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use super::latency_result::{Path, PathResult};
use super::rabbit::OpenLoopStats;
use super::record::{self, Recorder};
use super::window::CpuUse;
use super::{DRAIN_LIMIT, DRAIN_QUIET, Settings};
use crate::subscriber::Clock;

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

/// The parts every latency path shares: a recorder, a schedule, the window.
pub struct PathRun {
    pub recorder: Arc<Mutex<Recorder>>,
    pub schedule: Schedule,
    pub from: Instant,
    pub until: Instant,
    stop_tx: watch::Sender<bool>,
    pub stop_rx: watch::Receiver<bool>,
}

impl PathRun {
    /// The schedule starts `lead` from now, to leave time for connecting the publisher.
    pub fn new(s: &Settings, path: Path, lead: Duration) -> Result<Self> {
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
    pub async fn finish(
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

pub async fn join_publisher(
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
