//! Each benchmark run from the command-line options: its section of the report printed as it
//! completes, its entry stored for the summary.

use std::time::Duration;

use crate::cli::Options;
use crate::gateway::Launch;
use crate::report::{self, FanoutEntry, GrpcFanoutEntry, IdleEntry, Report};
use crate::subscriber::Kind;
use crate::{bridge, codec, fanout, grpc, idle};

pub async fn run_fanout(launch: &Launch, o: &Options, report: &mut Report) {
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
    for n in o.n_or(&crate::cli::FANOUT_N) {
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

pub async fn run_idle(launch: &Launch, o: &Options, report: &mut Report) {
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

/// gRPC fan-out against SSE, and unary Publish against the bare echo server (prints its own
/// tables); whether every case ran and the unary phases had no errors.
pub async fn run_grpc(launch: &Launch, o: &Options) -> bool {
    let s = grpc::Settings {
        warmup: Duration::from_secs_f64(o.warmup),
        window: Duration::from_secs_f64(o.window),
        rate: o.grpc_rate,
        max_deliveries: o.deliveries_per_sec,
        publishers: o.publishers.max(1),
        source_addrs: o.source_addrs,
        event_bytes: o.event_bytes,
        callers: o.grpc_callers.max(1),
        channels: o.grpc_channels.max(1),
        rounds: o.grpc_rounds.max(1),
    };
    let ns = o.n_or(&crate::cli::GRPC_N);
    let entries = run_grpc_fanout(launch, &s, &ns).await;
    let phases = 2 * s.rounds as u32;
    let limit = (s.warmup + s.window + Duration::from_secs(20)) * phases;
    let unary = bounded(limit, grpc::run_unary(launch, &s)).await;
    report::print_grpc_unary(&s, &unary);
    let unary_ok = unary
        .as_ref()
        .is_ok_and(|u| u.phases.iter().all(|p| p.errors == 0));
    entries.iter().all(|e| e.outcome.is_ok()) && unary_ok
}

/// The gRPC fan-out cases: per N, `s.rounds` gRPC/SSE pairs, alternating which goes first.
async fn run_grpc_fanout(
    launch: &Launch,
    s: &grpc::Settings,
    ns: &[usize],
) -> Vec<GrpcFanoutEntry> {
    use grpc::Subscribers::{Grpc, Sse};
    report::print_grpc_fanout_header(s, ns);
    let mut entries = Vec::new();
    for &n in ns {
        for round in 0..s.rounds {
            let order = if round % 2 == 0 {
                [Grpc, Sse]
            } else {
                [Sse, Grpc]
            };
            for subscribers in order {
                let limit = s.warmup
                    + s.window
                    + Duration::from_secs(60)
                    + Duration::from_millis(4 * n as u64);
                let case = grpc::run_fanout_case(launch, s, subscribers, n);
                let entry = GrpcFanoutEntry {
                    subscribers,
                    n,
                    round: round + 1,
                    outcome: bounded(limit, case).await,
                };
                report::print_grpc_fanout_row(&entry);
                entries.push(entry);
            }
        }
    }
    println!();
    report::print_grpc_fanout_details(&entries);
    report::print_grpc_fanout_ratios(&entries, ns);
    entries
}

/// `run` under a time limit, its error as text.
async fn bounded<T>(
    limit: Duration,
    run: impl Future<Output = anyhow::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

/// HTTP → NATS JetStream against a bare async-nats publisher (prints its own table).
pub async fn run_auth(launch: &Launch, o: &Options) -> anyhow::Result<()> {
    bridge::run_auth(launch, &bridge_settings(o)).await
}

pub async fn run_rpc(launch: &Launch, o: &Options) -> anyhow::Result<()> {
    let settings = bridge_settings(o);
    bridge::run_rpc(launch, &settings, &[1, o.confirm_window.max(1)]).await?;
    bridge::run_work_queue(launch, &settings).await
}

pub async fn run_nats(launch: &Launch, o: &Options) -> anyhow::Result<()> {
    let settings = bridge_settings(o);
    bridge::run_nats(launch, &settings, &o.nats_url).await
}

pub async fn run_bridge(launch: &Launch, o: &Options, report: &mut Report) {
    let settings = bridge_settings(o);
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

pub fn run_codec(o: &Options, report: &mut Report) {
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

fn bridge_settings(o: &Options) -> bridge::Settings {
    bridge::Settings {
        warmup: Duration::from_secs_f64(o.warmup),
        window: Duration::from_secs_f64(o.window),
        confirm_window: o.confirm_window.max(1),
        event_bytes: o.event_bytes,
        rate: o.bridge_rate,
        rounds: o.bridge_rounds.max(1),
        amqp_url: o.amqp_url.clone(),
        mqtt_url: o.mqtt_url.clone(),
    }
}
