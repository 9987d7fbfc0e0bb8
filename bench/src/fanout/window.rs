//! The measurement window: counters read at its edges, the gateway's write syscalls in between
//! (perf), and a sleep that fails as soon as the gateway exits.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use super::perf::PerfStat;
use crate::gateway::Gateway;
use crate::publisher::Progress;
use crate::subscriber::Shared;
use crate::sysinfo;

/// The window as measured.
#[derive(Debug)]
pub struct Measured {
    pub before: Snapshot,
    pub after: Snapshot,
    /// Gateway write syscalls in the window (perf), if measured.
    pub write_syscalls: Option<u64>,
}

/// Sleeps until `from`, measures until `until`, failing as soon as the gateway exits.
pub async fn measure(
    gw: &mut Gateway,
    shared: &Shared,
    progress: &Progress,
    from: Instant,
    until: Instant,
    window: Duration,
) -> Result<Measured> {
    sleep_watching(gw, from).await?;
    let before = Snapshot::take(gw, shared, progress)?;
    let perf = PerfStat::start(gw.pid(), window);
    sleep_watching(gw, until).await?;
    let after = Snapshot::take(gw, shared, progress)?;
    let write_syscalls = match perf {
        Some(perf) => perf.finish().await,
        None => None,
    };
    Ok(Measured {
        before,
        after,
        write_syscalls,
    })
}

/// Counters read at the edges of the measurement window.
#[derive(Debug)]
pub struct Snapshot {
    pub at: Instant,
    pub delivered: u64,
    pub accepted: u64,
    pub gateway_ticks: u64,
    pub bench_ticks: u64,
    pub system_ticks: u64,
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
