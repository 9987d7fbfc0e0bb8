//! Idle connection memory: the gateway's resident memory (`smaps_rollup` Rss) with 0
//! connections and then with growing numbers of idle subscribers (no traffic), for one kind at
//! a time on a fresh gateway. The figure is the least-squares slope of RSS over connections;
//! the RSS after every client left shows whether per-connection memory is given back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::conn;
use crate::gateway::{Gateway, Launch};
use crate::subscriber::{self, Clock, Kind, Shared, Spec};

/// Time given to the gateway to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(1);
const CONNECT_CONCURRENCY: usize = 128;

/// Memory per idle connection of one kind.
#[derive(Debug, Clone)]
pub struct IdleResult {
    pub kind: Kind,
    /// (connections, RSS in KiB).
    pub points: Vec<(usize, u64)>,
    /// Least-squares slope, KiB per connection.
    pub slope_kib: f64,
    /// RSS once every client has gone again, KiB.
    pub rss_after_close_kib: Option<u64>,
    /// Peak RSS, KiB.
    pub hwm_kib: u64,
    /// The guard from the benchmark plan (G3b), KiB per connection.
    pub target_kib: f64,
}

impl IdleResult {
    /// Per-connection target: ≤ 16 KiB per WebSocket, ≤ 8 KiB per SSE stream.
    pub fn target_for(kind: Kind) -> f64 {
        match kind {
            Kind::Ws => 16.0,
            Kind::Sse => 8.0,
        }
    }
}

/// Measures `kind` at each count in `steps` (ascending).
pub async fn run_kind(
    launch: &Launch,
    kind: Kind,
    steps: &[usize],
    source_addrs: usize,
) -> Result<IdleResult> {
    let launched = launch.clone();
    let mut gw = tokio::task::spawn_blocking(move || Gateway::start(&launched))
        .await
        .context("gateway start task")??;
    // The first /metrics render allocates; do it before the baseline.
    gw.wait_subscribers(0, Duration::from_secs(5)).await?;
    tokio::time::sleep(SETTLE).await;
    let mut points = vec![(0, gw.rss_rollup_kib()?)];

    let shared = Shared::new(Clock::new())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut clients = JoinSet::new();
    for &target in steps {
        let current = clients.len();
        if target < current {
            bail!("idle steps must ascend");
        }
        for index in current..target {
            let spec = Spec {
                kind,
                index,
                source: conn::source_addr(index, source_addrs),
                server: gw.addr(),
                streams: 1,
            };
            clients.spawn(subscriber::run(
                spec,
                shared.clone(),
                permits.clone(),
                stop_rx.clone(),
            ));
        }
        let limit = Duration::from_secs(20) + Duration::from_millis(3 * target as u64);
        let deadline = Instant::now() + limit;
        while shared.connected.load(Ordering::Relaxed) < target {
            gw.ensure_alive()?;
            if let Some(done) = clients.try_join_next() {
                let stats = done.context("client task")?;
                bail!(
                    "an idle {kind} client ended: {}",
                    stats
                        .connect_error
                        .or(stats.closed)
                        .unwrap_or_else(|| "no reason".into())
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "only {} of {target} idle clients connected",
                    shared.connected.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gw.wait_subscribers(target, Duration::from_secs(20)).await?;
        tokio::time::sleep(SETTLE).await;
        points.push((target, gw.rss_rollup_kib()?));
    }

    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, clients.join_next()).await {}
    clients.abort_all();
    let rss_after_close_kib = match gw.wait_subscribers(0, Duration::from_secs(10)).await {
        Ok(()) => {
            tokio::time::sleep(SETTLE).await;
            Some(gw.rss_rollup_kib()?)
        }
        Err(_) => None,
    };
    let (_, hwm_kib) = gw.memory_kib()?;
    Ok(IdleResult {
        kind,
        slope_kib: slope(&points),
        points,
        rss_after_close_kib,
        hwm_kib,
        target_kib: IdleResult::target_for(kind),
    })
}

/// Least-squares slope of y over x.
fn slope(points: &[(usize, u64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return f64::NAN;
    }
    let mean_x = points.iter().map(|&(x, _)| x as f64).sum::<f64>() / n;
    let mean_y = points.iter().map(|&(_, y)| y as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for &(x, y) in points {
        let dx = x as f64 - mean_x;
        num += dx * (y as f64 - mean_y);
        den += dx * dx;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let points = [(0, 100), (1000, 2100), (5000, 10100)];
        assert!((slope(&points) - 2.0).abs() < 1e-9);
    }
}
