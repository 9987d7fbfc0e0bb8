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
//! latency against the direct MQTT and AMQP paths; needs Mosquitto and RabbitMQ) and `all`.
//! The harness starts the release gateway itself (`switchyard` next to this binary, or
//! `$SWITCHYARD_BIN`), one fresh process per case, on a port the gateway picks. On a machine
//! with two or more CPUs the gateway is pinned to CPU 1 and the harness to CPU 0 (`--no-pin`
//! turns that off), following the benchmark plan in `shared/reliability.md` section 2.
//!
//! Every step is bounded: connection, publishing and drain phases have their own limits, and a
//! watchdog ends the run (killing the gateway) after `--time-limit` seconds.

mod bridge;
mod codec;
mod conn;
mod fanout;
mod gateway;
mod idle;
mod publisher;
mod report;
mod sse;
mod subscriber;
mod sysinfo;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::gateway::Launch;
use crate::report::{Env, FanoutEntry, IdleEntry, Report};
use crate::subscriber::Kind;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-bench",
    about = "Benchmarks the switchyard gateway: fan-out, idle memory, codec, broker bridges"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every benchmark, then the summary.
    All,
    /// Publish → hub → N subscribers, SSE and WebSocket.
    Fanout,
    /// Gateway memory per idle connection.
    Idle,
    /// CloudEvents JSON decode+encode against plain serde_json.
    Codec,
    /// HTTP → AMQP with confirms vs bare lapin; MQTT → gateway → AMQP latency vs direct paths.
    Bridge,
}

#[derive(Debug, Args)]
struct Options {
    /// Subscriber counts for fan-out.
    #[arg(long = "n", global = true, value_delimiter = ',', default_values_t = [100, 1000, 10000])]
    n: Vec<usize>,
    /// Subscription kinds for fan-out and idle.
    #[arg(long, global = true, value_delimiter = ',', value_enum, default_values_t = [Kind::Sse, Kind::Ws])]
    kinds: Vec<Kind>,
    /// Fan-out measurement window, seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    window: f64,
    /// Fan-out warm-up before the window, seconds.
    #[arg(long, global = true, default_value_t = 1.0)]
    warmup: f64,
    /// Deliveries offered per second at full load; the publish rate is this divided by N.
    #[arg(long, global = true, default_value_t = 200_000.0)]
    deliveries_per_sec: f64,
    /// Load levels, as fractions of --deliveries-per-sec (each is a separate case).
    #[arg(long, global = true, value_delimiter = ',', default_values_t = [1.0, 0.25])]
    loads: Vec<f64>,
    /// Highest publish rate, events per second.
    #[arg(long, global = true, default_value_t = 5_000.0)]
    max_rate: f64,
    /// Publisher connections (one sequence-numbered stream each).
    #[arg(long, global = true, default_value_t = 16)]
    publishers: usize,
    /// Size of each published event in the JSON format, bytes.
    #[arg(long, global = true, default_value_t = 256)]
    event_bytes: usize,
    /// Client source addresses to spread over (127.0.0.2 onwards).
    #[arg(long, global = true, default_value_t = 32)]
    source_addrs: usize,
    /// Idle connection counts to measure memory at.
    #[arg(long, global = true, value_delimiter = ',', default_values_t = [1000, 5000, 10000])]
    idle_steps: Vec<usize>,
    /// Codec iterations per variant and event (at least 200k for stable figures).
    #[arg(long, global = true, default_value_t = 200_000)]
    codec_iters: usize,
    /// Bridge: publishes awaiting their confirm at once; also the HTTP connections posting
    /// to the gateway.
    #[arg(long, global = true, default_value_t = 64)]
    confirm_window: usize,
    /// Bridge: bare-lapin/gateway phase pairs for confirmed throughput (order alternates).
    #[arg(long, global = true, default_value_t = 2)]
    bridge_rounds: usize,
    /// Bridge: open-loop rate of the latency paths, messages per second.
    #[arg(long, global = true, default_value_t = 1000.0)]
    bridge_rate: f64,
    /// Bridge: the RabbitMQ broker.
    #[arg(
        long,
        global = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// Bridge: the MQTT broker.
    #[arg(long, global = true, default_value = "mqtt://127.0.0.1:1883")]
    mqtt_url: String,
    /// Do not pin the gateway and the harness to separate CPUs.
    #[arg(long, global = true)]
    no_pin: bool,
    /// The gateway binary (default: `switchyard` next to this executable).
    #[arg(long, global = true, env = "SWITCHYARD_BIN")]
    gateway: Option<PathBuf>,
    /// A gateway configuration file (e.g. `hub: { subscriber_queue: N }`); the listen address
    /// is always overridden.
    #[arg(long, global = true)]
    gateway_config: Option<PathBuf>,
    /// Whole-run limit in seconds; the watchdog kills the gateway and exits after it.
    #[arg(long, global = true, default_value_t = 540)]
    time_limit: u64,
}

/// Fewer than 20,000 descriptors are available to this process (and the gateway).
const MAX_CLIENTS: usize = 19_000;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let needs_gateway = !matches!(cli.command, Command::Codec);
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
        launch.as_ref().map_or_else(
            || "not used".into(),
            |l| {
                let mut text = match &l.config {
                    Some(c) => format!("{} --config {}", l.bin.display(), c.display()),
                    None => format!("{} (embedded default configuration)", l.bin.display()),
                };
                match cli.command {
                    Command::Bridge => {
                        text = format!(
                            "{} (bridge: a generated --config per part)",
                            l.bin.display()
                        );
                    }
                    Command::All => text.push_str("; bridge: a generated --config per part"),
                    _ => {}
                }
                text
            },
        ),
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
    let (fanout, idle, codec, bridge) = match cli.command {
        Command::All => (true, true, true, true),
        Command::Fanout => (true, false, false, false),
        Command::Idle => (false, true, false, false),
        Command::Codec => (false, false, true, false),
        Command::Bridge => (false, false, false, true),
    };
    if let (true, Some(launch)) = (fanout, &launch) {
        runtime.block_on(run_fanout(launch, o, &mut report));
    }
    if let (true, Some(launch)) = (idle, &launch) {
        runtime.block_on(run_idle(launch, o, &mut report));
    }
    if let (true, Some(launch)) = (bridge, &launch) {
        runtime.block_on(run_bridge(launch, o, &mut report));
    }
    if codec {
        run_codec(o, &mut report);
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    add_notes(&mut report);
    report::print_summary(&env, &report);
    let fanout_ok = report.fanout.iter().all(|e| e.outcome.is_ok());
    let idle_ok = report.idle.iter().all(|e| e.outcome.is_ok());
    let codec_ok = !matches!(report.codec, Some(Err(_)));
    let bridge_ok = report.bridge.as_ref().is_none_or(bridge::BridgeResult::ok);
    Ok(fanout_ok && idle_ok && codec_ok && bridge_ok)
}

async fn run_fanout(launch: &Launch, o: &Options, report: &mut Report) {
    let settings = fanout::Settings {
        warmup: Duration::from_secs_f64(o.warmup),
        window: Duration::from_secs_f64(o.window),
        max_rate: o.max_rate,
        publishers: o.publishers.max(1),
        source_addrs: o.source_addrs,
        event_bytes: o.event_bytes,
    };
    println!(
        "== fanout: publish -> hub -> N subscribers; {:.0} deliveries/s offered at load 1 (loads {:?}; rate = offered / N, max {:.0} ev/s), {} publisher connections, {} B events, warm-up {:.1}s, window {:.1}s",
        o.deliveries_per_sec,
        o.loads,
        o.max_rate,
        settings.publishers,
        o.event_bytes,
        o.warmup,
        o.window
    );
    println!("{}", report::fanout_header());
    for &n in &o.n {
        for &load in &o.loads {
            for &kind in &o.kinds {
                let offered = o.deliveries_per_sec * load;
                let entry = FanoutEntry {
                    kind,
                    n,
                    outcome: fanout_case(launch, &settings, kind, n, offered).await,
                };
                println!("{}", report::fanout_row(&entry));
                for line in report::fanout_details(&entry) {
                    println!("       {line}");
                }
                report.fanout.push(entry);
            }
        }
    }
    println!(
        "   latency = receive time - send timestamp in the event (same clock), for events sent in the window; deliv/s by receive time in the window;"
    );
    println!(
        "   CPU-s/M = gateway utime+stime per million deliveries; GW%/bench%/other% = CPU of gateway / this harness / everything else, % of one core;"
    );
    println!(
        "   ev/read = events per client read() (a proxy for write coalescing); ev/write = deliveries per gateway write syscall (perf stat, POST responses subtracted)."
    );
    println!();
}

/// One fan-out case under its own time limit.
async fn fanout_case(
    launch: &Launch,
    settings: &fanout::Settings,
    kind: Kind,
    n: usize,
    offered: f64,
) -> Result<fanout::CaseResult, String> {
    let limit = settings.warmup
        + settings.window
        + Duration::from_secs(90)
        + Duration::from_millis(4 * n as u64);
    let case = fanout::run_case(launch, settings, kind, n, offered);
    match tokio::time::timeout(limit, case).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

async fn run_idle(launch: &Launch, o: &Options, report: &mut Report) {
    println!(
        "== idle: gateway RSS (smaps_rollup) with 0 and {:?} idle subscribers, fresh gateway per kind",
        o.idle_steps
    );
    let mut steps = o.idle_steps.clone();
    steps.sort_unstable();
    steps.dedup();
    for &kind in &o.kinds {
        let limit = Duration::from_secs(60)
            + Duration::from_millis(6 * steps.last().copied().unwrap_or_default() as u64);
        let outcome =
            match tokio::time::timeout(limit, idle::run_kind(launch, kind, &steps, o.source_addrs))
                .await
            {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err(format!("timed out after {limit:?}")),
            };
        let entry = IdleEntry { kind, outcome };
        report::print_idle(&entry);
        report.idle.push(entry);
    }
    println!();
}

async fn run_bridge(launch: &Launch, o: &Options, report: &mut Report) {
    let settings = bridge::Settings {
        warmup: Duration::from_secs_f64(o.warmup),
        window: Duration::from_secs_f64(o.window),
        confirm_window: o.confirm_window.max(1),
        event_bytes: o.event_bytes,
        rate: o.bridge_rate,
        rounds: o.bridge_rounds.max(1),
        amqp_url: o.amqp_url.clone(),
        mqtt_url: o.mqtt_url.clone(),
    };
    println!(
        "== bridge: gateway with a generated --config per part (--gateway-config is not used here); RabbitMQ {}, MQTT {}",
        redact(&settings.amqp_url),
        settings.mqtt_url
    );
    let result = bridge::run(launch, &settings).await;
    report::print_bridge(&result);
    report.bridge = Some(result);
}

/// `amqp://user:password@host` without the password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn run_codec(o: &Options, report: &mut Report) {
    println!(
        "== codec: switchyard_core json::decode_event + encode_event (reused Vec) vs serde_json round trips"
    );
    let outcome = codec::run(o.codec_iters.max(1)).map_err(|e| format!("{e:#}"));
    match &outcome {
        Ok(results) => report::print_codec(results),
        Err(e) => println!("codec: FAILED: {e}"),
    }
    println!();
    report.codec = Some(outcome);
}

/// Observations worth a line under the summary.
fn add_notes(report: &mut Report) {
    add_bridge_notes(report);
    for entry in &report.fanout {
        let Ok(r) = &entry.outcome else { continue };
        if r.bench_cpu_util > 0.9 {
            report.notes.push(format!(
                "fanout {} N={}: the harness used {:.0}% of its core; latency may be client-bound",
                r.kind,
                r.n,
                r.bench_cpu_util * 100.0
            ));
        }
        if r.gateway_cpu_util > 0.9 {
            report.notes.push(format!(
                "fanout {} N={}: the gateway used {:.0}% of its core: it is CPU-bound at this rate, so latency is mostly queueing and deliveries/s is about its capacity",
                r.kind,
                r.n,
                r.gateway_cpu_util * 100.0
            ));
        }
        if r.other_cpu_util > 0.2 {
            report.notes.push(format!(
                "fanout {} N={}: other processes used {:.0}% of a core during the window; figures are noisy",
                r.kind,
                r.n,
                r.other_cpu_util * 100.0
            ));
        }
    }
}

fn add_bridge_notes(report: &mut Report) {
    let Some(b) = &report.bridge else { return };
    let mut notes = Vec::new();
    if let Ok(t) = &b.throughput {
        for publisher in [bridge::Publisher::Gateway, bridge::Publisher::Bare] {
            let Some(p) = t.pooled(publisher) else {
                continue;
            };
            let who = publisher.label();
            if publisher == bridge::Publisher::Gateway && p.gateway_util > 0.9 {
                notes.push(format!(
                    "bridge S1 {who}: the gateway used {:.0}% of its core: it is CPU-bound, so its confirmed rate is about its capacity on one core",
                    p.gateway_util * 100.0
                ));
            }
            if p.bench_util > 0.9 {
                notes.push(format!(
                    "bridge S1 {who}: the harness used {:.0}% of its core; the rate may be client-bound",
                    p.bench_util * 100.0
                ));
            }
            if p.other_util > 0.2 {
                notes.push(format!(
                    "bridge S1 {who}: other processes used {:.0}% of a core; figures are noisy",
                    p.other_util * 100.0
                ));
            }
        }
    }
    if let Ok(l) = &b.latency {
        for r in [&l.mqtt, &l.amqp, &l.gateway].into_iter().flatten() {
            if r.cpu.other > 0.2 {
                notes.push(format!(
                    "bridge S4 {}: other processes used {:.0}% of a core; latency is noisy",
                    r.path.label(),
                    r.cpu.other * 100.0
                ));
            }
            if r.max_lag_ms > 5.0 {
                notes.push(format!(
                    "bridge S4 {}: the publisher fell up to {:.1} ms behind its schedule (its latency still counts from the send timestamp)",
                    r.path.label(),
                    r.max_lag_ms
                ));
            }
        }
    }
    report.notes.extend(notes);
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
