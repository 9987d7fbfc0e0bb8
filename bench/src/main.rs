//! `switchyard-bench`: the gateway's benchmark harness, one command for the whole report.
//!
//! ```text
//! cargo build --release -p switchyard -p switchyard-bench
//! cargo run --release -p switchyard-bench -- all
//! ```
//!
//! Subcommands: `fanout` (publish → hub → N SSE and N WebSocket subscribers: deliveries/s,
//! latency, loss, gateway CPU per delivery, write coalescing), `idle` (memory per idle
//! connection), `codec` (CloudEvents JSON decode+encode against plain serde_json), `bridge`
//! (HTTP → AMQP confirmed throughput against a bare lapin publisher, and MQTT → gateway → AMQP
//! latency against the direct MQTT and AMQP paths; needs Mosquitto and RabbitMQ), `grpc`
//! (gRPC Publish → hub → N Subscribe streams against N SSE subscribers, and unary Publish
//! calls/s against a bare tonic server, the hidden `grpc-echo` subcommand) and `all`.
//! The harness starts the release gateway itself (`switchyard` next to this binary, or
//! `$SWITCHYARD_BIN`), one fresh process per case, on a port the gateway picks. On a machine
//! with two or more CPUs the gateway is pinned to CPU 1 and the harness to CPU 0 (`--no-pin`
//! turns that off), following the benchmark plan in `shared/reliability.md` section 2.
//!
//! Every step is bounded: connection, publishing and drain phases have their own limits, and a
//! watchdog ends the run (killing the gateway) after `--time-limit` seconds.

mod bridge;
mod cli;
mod codec;
mod conn;
mod fanout;
mod gateway;
mod grpc;
mod idle;
mod notes;
mod publisher;
mod report;
mod sse;
mod subscriber;
mod suite;
mod sysinfo;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::gateway::Launch;
use crate::report::{Env, Report};

/// Fewer than 20,000 descriptors are available to this process (and the gateway).
const MAX_CLIENTS: usize = 19_000;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::GrpcEcho = cli.command {
        return serve_echo();
    }
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("switchyard-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected benchmarks; `Ok(false)` if any of them failed.
fn run(cli: &Cli) -> Result<bool> {
    let o = &cli.options;
    if o.n.iter().chain(&o.idle_steps).any(|&n| n > MAX_CLIENTS) {
        anyhow::bail!("at most {MAX_CLIENTS} connections fit under this machine's fd limit");
    }
    let pin = !o.no_pin && sysinfo::cpus_online() >= 2 && sysinfo::have_program("taskset");
    let needs_gateway = !matches!(cli.command, Command::Codec | Command::GrpcEcho);
    let launch = if needs_gateway {
        Some(Launch::locate(
            o.gateway.clone(),
            pin.then_some(1),
            o.gateway_config.clone(),
        )?)
    } else {
        None
    };
    // Gathered before pinning, so `nproc` reports the machine rather than our one CPU.
    let mut env = Env::gather(
        "none".into(),
        describe_gateway(launch.as_ref(), &cli.command),
    );
    if pin {
        pin_self(0)?;
        env.pinning = "gateway on CPU 1, harness on CPU 0 (taskset)".into();
    }
    start_watchdog(Duration::from_secs(o.time_limit));
    env.print();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    let mut report = Report::default();
    let (fanout, idle, codec, bridge) = selection(&cli.command);
    if let Some(launch) = &launch
        && let Some(outcome) = run_alone(&cli.command, launch, o, &runtime)
    {
        runtime.shutdown_timeout(Duration::from_secs(2));
        return outcome;
    }
    if let (true, Some(launch)) = (fanout, &launch) {
        runtime.block_on(suite::run_fanout(launch, o, &mut report));
    }
    if let (true, Some(launch)) = (idle, &launch) {
        runtime.block_on(suite::run_idle(launch, o, &mut report));
    }
    if let (true, Some(launch)) = (bridge, &launch) {
        runtime.block_on(suite::run_bridge(launch, o, &mut report));
    }
    if codec {
        suite::run_codec(o, &mut report);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    notes::add_notes(&mut report);
    report::print_summary(&env, &report);
    Ok(all_ran(&report))
}

/// The commands that run by themselves, outside the summary report: their outcome, or `None`
/// for the others.
fn run_alone(
    command: &Command,
    launch: &Launch,
    o: &cli::Options,
    runtime: &tokio::runtime::Runtime,
) -> Option<Result<bool>> {
    Some(match command {
        Command::Auth => runtime.block_on(suite::run_auth(launch, o)).map(|()| true),
        Command::Nats => runtime.block_on(suite::run_nats(launch, o)).map(|()| true),
        Command::Rpc => runtime.block_on(suite::run_rpc(launch, o)).map(|()| true),
        Command::Grpc => Ok(runtime.block_on(suite::run_grpc(launch, o))),
        _ => return None,
    })
}

/// Which of fan-out, idle, codec and bridge a command runs (the others run by themselves).
fn selection(command: &Command) -> (bool, bool, bool, bool) {
    match command {
        Command::All => (true, true, true, true),
        Command::Fanout => (true, false, false, false),
        Command::Idle => (false, true, false, false),
        Command::Codec => (false, false, true, false),
        Command::Bridge => (false, false, false, true),
        Command::Auth | Command::Nats | Command::Rpc | Command::Grpc | Command::GrpcEcho => {
            (false, false, false, false)
        }
    }
}

/// The gateway line of the report's identification.
fn describe_gateway(launch: Option<&Launch>, command: &Command) -> String {
    launch.map_or_else(
        || "not used".into(),
        |l| {
            let mut text = match &l.config {
                Some(c) => format!("{} --config {}", l.bin.display(), c.display()),
                None => format!("{} (embedded default configuration)", l.bin.display()),
            };
            match command {
                Command::Bridge => {
                    text = format!(
                        "{} (bridge: a generated --config per part)",
                        l.bin.display()
                    );
                }
                Command::All => text.push_str("; bridge: a generated --config per part"),
                Command::Grpc => text.push_str("; gRPC listener on (SWITCHYARD_GRPC_LISTEN)"),
                _ => {}
            }
            text
        },
    )
}

/// The hidden `grpc-echo` subcommand: the bare gRPC server, until its stdin closes.
fn serve_echo() -> ExitCode {
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")
        .and_then(|runtime| runtime.block_on(grpc::serve_echo()));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard-bench grpc-echo: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether every benchmark that was selected ran.
fn all_ran(report: &Report) -> bool {
    let fanout_ok = report.fanout.iter().all(|e| e.outcome.is_ok());
    let idle_ok = report.idle.iter().all(|e| e.outcome.is_ok());
    let codec_ok = !matches!(report.codec, Some(Err(_)));
    let bridge_ok = report.bridge.as_ref().is_none_or(bridge::BridgeResult::ok);
    fanout_ok && idle_ok && codec_ok && bridge_ok
}

/// Moves this process (all its threads; run before the runtime starts) to `cpu`.
fn pin_self(cpu: usize) -> Result<()> {
    let status = std::process::Command::new("taskset")
        .args([
            "-a",
            "-c",
            "-p",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run taskset")?;
    anyhow::ensure!(status.success(), "taskset failed: {status}");
    Ok(())
}

/// Ends the process after `limit`, killing the gateway first, whatever the runtime is doing.
fn start_watchdog(limit: Duration) {
    let spawned = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("switchyard-bench: time limit of {limit:?} reached; killing the gateway");
            gateway::kill_current();
            std::process::exit(3);
        });
    if let Err(e) = spawned {
        eprintln!("switchyard-bench: no watchdog ({e}); the run is not time-bounded");
    }
}
