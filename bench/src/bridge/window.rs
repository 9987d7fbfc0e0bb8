//! Measuring a window: the CPU of the gateway, the brokers, this harness and everything else,
//! and the gateway's own account of its deliveries (from `/metrics`).

use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::conn;
use crate::gateway::Gateway;
use crate::sysinfo;

/// CPU over a window, as fractions of one core (the gateway's also in seconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub window_secs: f64,
    pub gateway_secs: f64,
    pub gateway: f64,
    pub bench: f64,
    pub rabbit: f64,
    pub mosquitto: f64,
    pub other: f64,
}

/// The gateway's own account of deliveries in a window: `switchyard_event_delivery_seconds`
/// (pipeline entry -> every sink confirmed) for one inbound, from its `_sum` and `_count`.
#[derive(Debug, Clone, Copy)]
pub struct Internal {
    pub events: u64,
    pub mean_ms: f64,
}

/// `(sum of seconds, count)` of `switchyard_event_delivery_seconds{inbound}` so far (0 before
/// the first event).
async fn delivery_totals(gw: &Gateway, inbound: &str) -> Option<(f64, f64)> {
    let body = conn::http_get(gw.addr(), "/metrics").await.ok()?;
    let text = String::from_utf8_lossy(&body);
    let label = format!("{{inbound=\"{inbound}\"}}");
    let value = |name: &str| {
        let key = format!("{name}{label}");
        text.lines()
            .find_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                (k == key).then(|| v.trim().parse::<f64>().ok())?
            })
            .unwrap_or(0.0)
    };
    Some((
        value("switchyard_event_delivery_seconds_sum"),
        value("switchyard_event_delivery_seconds_count"),
    ))
}

/// Processes whose CPU is accounted separately.
#[derive(Debug, Clone, Copy)]
pub struct Pids {
    gateway: Option<u32>,
    rabbit: Option<u32>,
    mosquitto: Option<u32>,
}

impl Pids {
    pub fn find(gateway: Option<u32>) -> Self {
        Self {
            gateway,
            rabbit: sysinfo::pid_of("beam.smp", Some("rabbit")),
            mosquitto: sysinfo::pid_of("mosquitto", None),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct CpuSnap {
    at: Instant,
    gateway: u64,
    bench: u64,
    rabbit: u64,
    mosquitto: u64,
    system: u64,
}

impl CpuSnap {
    fn take(pids: &Pids) -> Result<Self> {
        let ticks = |pid: Option<u32>| {
            pid.and_then(|p| sysinfo::proc_cpu_ticks(&format!("/proc/{p}/stat")).ok())
                .unwrap_or(0)
        };
        Ok(Self {
            at: Instant::now(),
            gateway: ticks(pids.gateway),
            bench: sysinfo::proc_cpu_ticks("/proc/self/stat")?,
            rabbit: ticks(pids.rabbit),
            mosquitto: ticks(pids.mosquitto),
            system: sysinfo::system_busy_ticks()?,
        })
    }

    fn until(self, after: Self) -> CpuUse {
        let hz = sysinfo::clock_ticks_per_sec() as f64;
        let secs = (after.at - self.at).as_secs_f64().max(1e-9);
        let d = |a: u64, b: u64| a.saturating_sub(b) as f64 / hz;
        let gateway = d(after.gateway, self.gateway);
        let bench = d(after.bench, self.bench);
        let rabbit = d(after.rabbit, self.rabbit);
        let mosquitto = d(after.mosquitto, self.mosquitto);
        let system = d(after.system, self.system);
        CpuUse {
            window_secs: secs,
            gateway_secs: gateway,
            gateway: gateway / secs,
            bench: bench / secs,
            rabbit: rabbit / secs,
            mosquitto: mosquitto / secs,
            other: (system - gateway - bench - rabbit - mosquitto).max(0.0) / secs,
        }
    }
}

/// CPU over `[from, until)`, failing as soon as the gateway exits; with `inbound`, also the
/// gateway's own delivery time for it over the same window.
pub async fn measure_window(
    pids: &Pids,
    gw: &mut Gateway,
    from: Instant,
    until: Instant,
    inbound: Option<&str>,
) -> Result<(CpuUse, Option<Internal>)> {
    let watch_gateway = inbound.is_some();
    sleep_watching(gw, from, watch_gateway).await?;
    let before = CpuSnap::take(pids)?;
    let totals_before = match inbound {
        Some(i) => delivery_totals(gw, i).await,
        None => None,
    };
    sleep_watching(gw, until, watch_gateway).await?;
    let cpu = before.until(CpuSnap::take(pids)?);
    let totals_after = match inbound {
        Some(i) => delivery_totals(gw, i).await,
        None => None,
    };
    let internal = match (totals_before, totals_after) {
        (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => Some(Internal {
            events: (c1 - c0) as u64,
            mean_ms: (s1 - s0) / (c1 - c0) * 1000.0,
        }),
        _ => None,
    };
    Ok((cpu, internal))
}

pub async fn measure_window_plain(pids: &Pids, from: Instant, until: Instant) -> Result<CpuUse> {
    tokio::time::sleep_until(from).await;
    let before = CpuSnap::take(pids)?;
    tokio::time::sleep_until(until).await;
    Ok(before.until(CpuSnap::take(pids)?))
}

async fn sleep_watching(gw: &mut Gateway, until: Instant, watch_gateway: bool) -> Result<()> {
    loop {
        if watch_gateway {
            gw.ensure_alive()?;
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}
