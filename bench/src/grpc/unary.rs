//! Unary round trips: K closed-loop callers, spread over a few HTTP/2 connections, each calling
//! `Gateway/Publish` again as soon as the previous call was answered, for a warm-up and a
//! window; against the gateway (a fresh one per phase) and against the bare echo server (a
//! fresh process per phase, on the gateway's CPU). Calls completed inside the window count;
//! the server's CPU time over the window comes from `/proc/<pid>/stat`.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use switchyard_grpc::switchyard_v1::PublishRequest;
use switchyard_grpc::switchyard_v1::gateway_client::GatewayClient;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::echo::EchoProcess;
use super::{Settings, connect, publish_request, start_gateway};
use crate::bridge::record;
use crate::fanout::Latency;
use crate::gateway::Launch;
use crate::sysinfo;

/// Time allowed for one call to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The server a phase calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Echo,
    Gateway,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Echo => "bare tonic echo",
            Self::Gateway => "gateway",
        })
    }
}

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct UnaryPhase {
    pub target: Target,
    pub window_secs: f64,
    /// Calls answered OK inside the window.
    pub calls: u64,
    /// Calls that failed (any time), and the first failure.
    pub errors: u64,
    pub first_error: Option<String>,
    pub server_cpu_secs: f64,
    pub bench_cpu_secs: f64,
    /// CPU used by everything else on the machine over the window.
    pub other_cpu_secs: f64,
    latency_us: Histogram<u64>,
}

/// Every phase, in the order run.
#[derive(Debug, Clone)]
pub struct UnaryResult {
    pub phases: Vec<UnaryPhase>,
}

/// One server's phases pooled: total calls over total window time.
#[derive(Debug, Clone)]
pub struct Pooled {
    pub phases: usize,
    pub calls: u64,
    pub errors: u64,
    pub calls_per_sec: f64,
    pub server_util: f64,
    pub bench_util: f64,
    pub other_util: f64,
    /// Server CPU-seconds per million calls.
    pub cpu_secs_per_million: f64,
    pub latency: Option<Latency>,
}

impl UnaryResult {
    pub fn pooled(&self, target: Target) -> Result<Pooled> {
        let phases: Vec<&UnaryPhase> = self.phases.iter().filter(|p| p.target == target).collect();
        let secs: f64 = phases.iter().map(|p| p.window_secs).sum();
        let calls: u64 = phases.iter().map(|p| p.calls).sum();
        let cpu: f64 = phases.iter().map(|p| p.server_cpu_secs).sum();
        let bench: f64 = phases.iter().map(|p| p.bench_cpu_secs).sum();
        let other: f64 = phases.iter().map(|p| p.other_cpu_secs).sum();
        let mut latency = record::histogram()?;
        for p in &phases {
            latency.add(&p.latency_us)?;
        }
        Ok(Pooled {
            phases: phases.len(),
            calls,
            errors: phases.iter().map(|p| p.errors).sum(),
            calls_per_sec: calls as f64 / secs.max(1e-9),
            server_util: cpu / secs.max(1e-9),
            bench_util: bench / secs.max(1e-9),
            other_util: other / secs.max(1e-9),
            cpu_secs_per_million: cpu * 1e6 / calls.max(1) as f64,
            latency: record::summarize(&latency),
        })
    }
}

/// `s.rounds` pairs of phases, alternating which server goes first.
pub async fn run(launch: &Launch, s: &Settings) -> Result<UnaryResult> {
    let mut phases = Vec::new();
    for round in 0..s.rounds.max(1) {
        let order = if round % 2 == 0 {
            [Target::Echo, Target::Gateway]
        } else {
            [Target::Gateway, Target::Echo]
        };
        for target in order {
            phases.push(phase(launch, s, target).await?);
        }
    }
    Ok(UnaryResult { phases })
}

/// One phase on a fresh server process.
async fn phase(launch: &Launch, s: &Settings, target: Target) -> Result<UnaryPhase> {
    match target {
        Target::Echo => {
            let mut echo = EchoProcess::start(launch.cpu).await?;
            let phase = load(echo.addr(), echo.pid(), s, target).await;
            echo.ensure_alive()?;
            phase
        }
        Target::Gateway => {
            let mut gw = start_gateway(launch).await?;
            let phase = load(gw.grpc_addr()?, gw.pid(), s, target).await;
            gw.ensure_alive()?;
            phase
        }
    }
}

/// Runs the callers against `addr` and measures the server `pid` over the window.
async fn load(
    addr: std::net::SocketAddr,
    pid: u32,
    s: &Settings,
    target: Target,
) -> Result<UnaryPhase> {
    let clients = connect(addr, s.channels).await?;
    let request = publish_request(0, 0, 0, 0, s.event_bytes)?;
    let from = Instant::now() + s.warmup;
    let until = from + s.window;
    let mut callers = JoinSet::new();
    for caller in 0..s.callers.max(1) {
        let client = clients[caller % clients.len()].clone();
        callers.spawn(call_loop(client, request.clone(), from, until));
    }
    let stat = format!("/proc/{pid}/stat");
    let cpu = || -> Result<(u64, u64, u64)> {
        let server = sysinfo::proc_cpu_ticks(&stat)?;
        let bench = sysinfo::proc_cpu_ticks("/proc/self/stat")?;
        Ok((server, bench, sysinfo::system_busy_ticks()?))
    };
    tokio::time::sleep_until(from).await;
    let (before, started) = (cpu()?, Instant::now());
    tokio::time::sleep_until(until).await;
    let (after, window) = (cpu()?, started.elapsed());
    let ticks = sysinfo::clock_ticks_per_sec() as f64;
    let (server, bench) = (after.0 - before.0, after.1 - before.1);
    let mut phase = UnaryPhase {
        target,
        window_secs: window.as_secs_f64(),
        calls: 0,
        errors: 0,
        first_error: None,
        server_cpu_secs: server as f64 / ticks,
        bench_cpu_secs: bench as f64 / ticks,
        other_cpu_secs: (after.2 - before.2).saturating_sub(server + bench) as f64 / ticks,
        latency_us: record::histogram()?,
    };
    while let Some(joined) = callers.join_next().await {
        let caller = joined.context("caller task")??;
        phase.calls += caller.calls;
        phase.errors += caller.errors;
        phase.first_error = phase.first_error.or(caller.first_error);
        phase.latency_us.add(&caller.latency_us)?;
    }
    Ok(phase)
}

/// What one caller did.
struct Caller {
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    latency_us: Histogram<u64>,
}

/// Calls until `until`; counts and times the calls answered inside `[from, until)`.
async fn call_loop(
    mut client: GatewayClient<Channel>,
    request: PublishRequest,
    from: Instant,
    until: Instant,
) -> Result<Caller> {
    let mut caller = Caller {
        calls: 0,
        errors: 0,
        first_error: None,
        latency_us: record::histogram()?,
    };
    while Instant::now() < until {
        let sent = Instant::now();
        let answer = tokio::time::timeout(CALL_TIMEOUT, client.publish(request.clone())).await;
        let done = Instant::now();
        match answer {
            Ok(Ok(_)) if done >= from && done < until => {
                caller.calls += 1;
                let elapsed = (done - sent).as_nanos() as u64;
                record::record_ns(&mut caller.latency_us, elapsed);
            }
            Ok(Ok(_)) => {}
            Ok(Err(status)) => {
                caller.errors += 1;
                caller
                    .first_error
                    .get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
            }
            Err(_) => bail!("a Publish call was not answered within {CALL_TIMEOUT:?}"),
        }
    }
    Ok(caller)
}
