//! The N subscriber clients of a case: started, awaited until connected, drained after
//! publishing, and collected.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{CONNECT_CONCURRENCY, DRAIN_LIMIT, DRAIN_QUIET, Settings};
use crate::conn;
use crate::gateway::Gateway;
use crate::subscriber::{self, Kind, Shared, Spec, SubStats};

/// Starts `n` subscribers of `kind`, at most [`CONNECT_CONCURRENCY`] connecting at once.
pub fn spawn(
    gw: &Gateway,
    s: &Settings,
    kind: Kind,
    n: usize,
    shared: &Arc<Shared>,
    stop_rx: &watch::Receiver<bool>,
) -> JoinSet<SubStats> {
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut subscribers = JoinSet::new();
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
    subscribers
}

/// Waits until `n` subscribers are connected; fails fast on the first that could not connect.
pub async fn wait_connected(
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

/// Waits until `expected` deliveries arrived, none arrived for a while, or the limit passed.
pub async fn drain(shared: &Shared, expected: u64) {
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
pub async fn collect(subscribers: &mut JoinSet<SubStats>) -> Vec<SubStats> {
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
