//! The printed report: the run's identification, one table per benchmark as it completes, and
//! a final summary with each figure against its target from the benchmark plan
//! (`shared/reliability.md` section 2).

use std::fmt::Write as _;

use crate::bridge::{self, BridgeResult, CpuUse, PathResult, Publisher, ThroughputPhase};
use crate::codec::{CodecResult, Variant};
use crate::fanout::CaseResult;
use crate::idle::IdleResult;
use crate::subscriber::Kind;
use crate::sysinfo;

/// Codec target (G7): the gateway's round trip at most this many times serde_json's.
pub const CODEC_TARGET_RATIO: f64 = 2.0;
/// Write-coalescing target (G6a): events per write syscall at >= 10k deliveries/s.
pub const EVENTS_PER_WRITE_TARGET: f64 = 5.0;

/// Identification printed at the top of every report.
#[derive(Debug, Clone)]
pub struct Env {
    pub sha: String,
    pub nproc: String,
    pub cpus_online: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub load_at_start: String,
    pub pinning: String,
    pub gateway_bin: String,
    pub command: String,
}

impl Env {
    pub fn gather(pinning: String, gateway_bin: String) -> Self {
        Self {
            sha: sysinfo::git_sha(),
            nproc: sysinfo::nproc(),
            cpus_online: sysinfo::cpus_online(),
            cpu_model: sysinfo::cpu_model(),
            kernel: sysinfo::kernel(),
            load_at_start: sysinfo::loadavg(),
            pinning,
            gateway_bin,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    pub fn print(&self) {
        println!("switchyard-bench");
        println!("  git            {}", self.sha);
        println!(
            "  machine        nproc {} (online {}), {}, kernel {}",
            self.nproc, self.cpus_online, self.cpu_model, self.kernel
        );
        println!("  load average   {} (at start)", self.load_at_start);
        println!("  pinning        {}", self.pinning);
        println!("  gateway        {}", self.gateway_bin);
        println!("  command        {}", self.command);
        println!();
    }
}

/// One fan-out case as it ended: its figures, or why it failed.
#[derive(Debug)]
pub struct FanoutEntry {
    pub kind: Kind,
    pub n: usize,
    pub outcome: Result<CaseResult, String>,
}

/// One idle-memory kind: its figures, or why it failed.
#[derive(Debug)]
pub struct IdleEntry {
    pub kind: Kind,
    pub outcome: Result<IdleResult, String>,
}

/// Everything measured in one run.
#[derive(Debug, Default)]
pub struct Report {
    pub fanout: Vec<FanoutEntry>,
    pub idle: Vec<IdleEntry>,
    pub codec: Option<Result<Vec<CodecResult>, String>>,
    pub bridge: Option<BridgeResult>,
    pub notes: Vec<String>,
}

pub fn fanout_header() -> String {
    format!(
        "{:<4} {:>6} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5} {:>5} {:>8} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>8}  {}",
        "kind",
        "N",
        "ev/s",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "lost",
        "dup",
        "disc",
        "CPU-s/M",
        "GW%",
        "bench%",
        "other%",
        "RSS MiB",
        "HWM MiB",
        "ev/read",
        "ev/write",
        "valid"
    )
}

pub fn fanout_row(entry: &FanoutEntry) -> String {
    let r = match &entry.outcome {
        Ok(r) => r,
        Err(e) => {
            return format!(
                "{:<4} {:>6} FAILED: {}",
                entry.kind.to_string(),
                entry.n,
                e.replace('\n', "\n      ")
            );
        }
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let (p50, p99, p999, max) = r
        .latency
        .map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |l| {
            (ms(l.p50_us), ms(l.p99_us), ms(l.p999_us), ms(l.max_us))
        });
    let disconnected: usize = r.disconnects.values().sum();
    format!(
        "{:<4} {:>6} {:>7.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>5} {:>5} {:>8.2} {:>6.0} {:>6.0} {:>6.0} {:>7.1} {:>7.1} {:>7.2} {:>8}  {}",
        r.kind.to_string(),
        r.n,
        r.rate,
        r.deliveries_per_sec,
        p50,
        p99,
        p999,
        max,
        r.lost,
        r.dups,
        disconnected,
        r.cpu_secs_per_million,
        r.gateway_cpu_util * 100.0,
        r.bench_cpu_util * 100.0,
        r.other_cpu_util * 100.0,
        r.rss_kib as f64 / 1024.0,
        r.hwm_kib as f64 / 1024.0,
        r.events_per_read,
        r.events_per_write
            .map_or_else(|| "n/a".into(), |e| format!("{e:.2}")),
        if r.valid() { "yes" } else { "NO" }
    )
}

/// Details that do not fit the row: disconnects, errors, publisher health.
pub fn fanout_details(entry: &FanoutEntry) -> Vec<String> {
    let Ok(r) = &entry.outcome else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "connect {:.1}s; published {} (refused {}), publisher max lag {:.1} ms; window {:.2}s: {} deliveries, gateway CPU {:.2}s, {} latency samples, gateway write syscalls {}",
        r.connect_secs,
        r.published,
        r.refused,
        r.publisher_max_lag_ms,
        r.window_secs,
        r.deliveries_in_window,
        r.gateway_cpu_secs,
        r.latency.map_or(0, |l| l.samples),
        r.write_syscalls
            .map_or_else(|| "not measured".into(), |w| w.to_string()),
    )];
    for (reason, count) in &r.disconnects {
        lines.push(format!("{count} subscribers ended early: {reason}"));
    }
    if r.missed_after_disconnect > 0 {
        lines.push(format!(
            "{} deliveries missed by subscribers after they were disconnected",
            r.missed_after_disconnect
        ));
    }
    if r.malformed > 0 {
        lines.push(format!(
            "{} events without the publisher's fields",
            r.malformed
        ));
    }
    for e in r.errors.iter().take(5) {
        lines.push(format!("error: {e}"));
    }
    if r.errors.len() > 5 {
        lines.push(format!("... and {} more errors", r.errors.len() - 5));
    }
    lines
}

pub fn print_idle(entry: &IdleEntry) {
    match &entry.outcome {
        Err(e) => println!("idle {}: FAILED: {e}", entry.kind),
        Ok(r) => {
            let points: Vec<String> = r
                .points
                .iter()
                .map(|(n, kib)| format!("{n}: {:.1} MiB", *kib as f64 / 1024.0))
                .collect();
            println!(
                "idle {:<3} RSS by connections  {}",
                r.kind.to_string(),
                points.join(", ")
            );
            println!(
                "         slope {:.2} KiB/conn ({:.0} B), target <= {:.0} KiB -> {:.2}x target; after all closed {}; peak {:.1} MiB",
                r.slope_kib,
                r.slope_kib * 1024.0,
                r.target_kib,
                r.slope_kib / r.target_kib,
                r.rss_after_close_kib
                    .map_or_else(|| "n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                r.hwm_kib as f64 / 1024.0
            );
        }
    }
}

pub fn print_codec(results: &[CodecResult]) {
    let mut header = format!("{:<34}", "ns/event (median of rounds)");
    for r in results {
        let _ = write!(header, " {:>26}", format!("{} ({} B)", r.name, r.bytes));
    }
    println!("{header}");
    for variant in Variant::ALL {
        let mut line = format!("{:<34}", variant.label());
        for r in results {
            let _ = write!(line, " {:>26.0}", r.ns_of(variant));
        }
        println!("{line}");
    }
    let mut line = format!("{:<34}", "ratio to Value round trip");
    for r in results {
        let _ = write!(line, " {:>25.2}x", r.ratio_value());
    }
    println!("{line}");
    let mut line = format!("{:<34}", "ratio to borrowed round trip");
    for r in results {
        let _ = write!(line, " {:>25.2}x", r.ratio_borrowed());
    }
    println!("{line}");
    if let Some(r) = results.first() {
        println!("({} iterations per variant and event)", r.iterations);
    }
}

/// The closing tables: every headline figure, its target and the ratio to it.
pub fn print_summary(env: &Env, report: &Report) {
    println!();
    println!(
        "==================== SUMMARY  git {}  nproc {}  load at end {} ====================",
        env.sha,
        env.nproc,
        sysinfo::loadavg()
    );
    if !report.fanout.is_empty() {
        print_fanout_summary(&report.fanout);
    }
    if let Some(bridge) = &report.bridge {
        print_bridge_summary(bridge);
    }
    if !report.idle.is_empty() || report.codec.is_some() || report.bridge.is_some() {
        println!();
        println!(
            "{:<46} {:>18} {:>10} {:>9}  verdict",
            "figure", "value", "target", "x target"
        );
    }
    let row = |name: String, value: String, target: String, ratio: f64, ok: bool| {
        let verdict = if ok { "PASS" } else { "FAIL" };
        println!("{name:<46} {value:>18} {target:>10} {ratio:>9.2}  {verdict}");
    };
    for entry in &report.idle {
        let name = format!("idle memory per {} connection (KiB)", entry.kind);
        match &entry.outcome {
            Err(_) => println!("{name:<46} {:>18}", "FAILED"),
            Ok(r) => row(
                name,
                format!("{:.2}", r.slope_kib),
                format!("<= {:.0}", r.target_kib),
                r.slope_kib / r.target_kib,
                r.slope_kib <= r.target_kib,
            ),
        }
    }
    match &report.codec {
        None => {}
        Some(Err(_)) => println!("{:<46} {:>18}", "codec", "FAILED"),
        Some(Ok(results)) => {
            for r in results {
                let ns = r.ns_of(Variant::CeRoundTrip);
                row(
                    format!("codec {}: vs serde_json Value", r.name),
                    format!("{ns:.0} ns = {:.2}x", r.ratio_value()),
                    format!("<= {CODEC_TARGET_RATIO:.1}x"),
                    r.ratio_value() / CODEC_TARGET_RATIO,
                    r.ratio_value() <= CODEC_TARGET_RATIO,
                );
                row(
                    format!("codec {}: vs serde_json borrowed", r.name),
                    format!("{:.2}x", r.ratio_borrowed()),
                    format!("<= {CODEC_TARGET_RATIO:.1}x"),
                    r.ratio_borrowed() / CODEC_TARGET_RATIO,
                    r.ratio_borrowed() <= CODEC_TARGET_RATIO,
                );
            }
        }
    }
    if let Some(bridge) = &report.bridge {
        bridge_figures(bridge);
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

fn print_fanout_summary(entries: &[FanoutEntry]) {
    println!(
        "fan-out (valid = no loss, duplicate or disconnect; ev/write target (G6a) >= {EVENTS_PER_WRITE_TARGET:.0} at >= 10k deliveries/s)"
    );
    println!(
        "{:<13} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8} {:>5} {:>8} {:>9} {:>9}  {:<7} valid",
        "case",
        "ev/s",
        "offered/s",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "CPU-s/M",
        "GW%",
        "RSS MiB",
        "ev/write",
        "x target",
        "G6a"
    );
    for entry in entries {
        let case = format!("{} N={}", entry.kind, entry.n);
        let r = match &entry.outcome {
            Ok(r) => r,
            Err(_) => {
                println!("{case:<13} FAILED (see above)");
                continue;
            }
        };
        let (p50, p99) = r.latency.map_or((f64::NAN, f64::NAN), |l| {
            (l.p50_us as f64 / 1000.0, l.p99_us as f64 / 1000.0)
        });
        let (per_write, ratio, verdict) = match r.events_per_write {
            Some(e) => (
                format!("{e:.2}"),
                format!("{:.2}", e / EVENTS_PER_WRITE_TARGET),
                match (
                    r.deliveries_per_sec >= 10_000.0,
                    e >= EVENTS_PER_WRITE_TARGET,
                ) {
                    (false, _) => "n/a",
                    (true, true) => "PASS",
                    (true, false) => "FAIL",
                },
            ),
            None => (format!("{:.2}/rd", r.events_per_read), "-".into(), "n/a"),
        };
        println!(
            "{case:<13} {:>6.0} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>5.0} {:>8.1} {:>9} {:>9}  {:<7} {}",
            r.rate,
            r.rate * r.n as f64,
            r.deliveries_per_sec,
            p50,
            p99,
            r.cpu_secs_per_million,
            r.gateway_cpu_util * 100.0,
            r.rss_kib as f64 / 1024.0,
            per_write,
            ratio,
            verdict,
            if r.valid() { "yes" } else { "NO" }
        );
    }
}

const MS: fn(u64) -> f64 = |us| us as f64 / 1000.0;

/// The bridge benchmarks' tables, printed when they are done.
pub fn print_bridge(b: &BridgeResult) {
    let s = &b.settings;
    println!(
        "== bridge S1: HTTP POST -> gateway -> AMQP (binary mode, persistent, mandatory, publisher confirms) vs bare lapin with the same confirm window ({}); {} B structured events; exchange {}, queue {} (durable classic, no consumer, purged before every phase); warm-up {:.1}s, window {:.1}s, {} round(s), order alternating",
        s.confirm_window,
        s.event_bytes,
        b.exchange,
        b.queue,
        s.warmup.as_secs_f64(),
        s.window.as_secs_f64(),
        s.rounds.max(1)
    );
    match &b.throughput {
        Err(e) => println!("bridge S1: FAILED: {e}"),
        Ok(t) => {
            println!(
                "{:<6} {:<20} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>5} {:>7} {:>6} {:>6} {:>7}",
                "round",
                "publisher",
                "msg/s",
                "mean ms",
                "p50 ms",
                "p99 ms",
                "p99.9",
                "max ms",
                "refused",
                "CPU-s/M",
                "GW%",
                "rabbit%",
                "bench%",
                "other%",
                "purged"
            );
            for phase in &t.phases {
                println!("{}", throughput_row(phase));
                for e in phase.errors.iter().take(3) {
                    println!("       error: {e}");
                }
                if let Some(i) = &phase.internal {
                    let mean = phase.hist.mean() / 1000.0;
                    println!(
                        "       gateway's own delivery time (pipeline entry -> AMQP confirm), window mean {:.3} ms over {} events; HTTP request mean {mean:.3} ms, so {:.3} ms outside the pipeline (HTTP, client, scheduling)",
                        i.mean_ms,
                        i.events,
                        mean - i.mean_ms
                    );
                }
            }
            for publisher in [
                Publisher::Bare,
                Publisher::Gateway,
                Publisher::BareGatewayMessage,
            ] {
                if let Some(p) = t.pooled(publisher) {
                    let (p50, p99, p999, max) = quad(p.latency);
                    println!(
                        "{:<6} {:<20} {:>8.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>8} {:>5.0} {:>7.0} {:>6.0} {:>6.0}",
                        "pooled",
                        publisher.label(),
                        p.rate,
                        p.mean_ms,
                        p50,
                        p99,
                        p999,
                        max,
                        "",
                        if publisher == Publisher::Gateway {
                            format!("{:.1}", p.cpu_secs_per_million)
                        } else {
                            "-".into()
                        },
                        p.gateway_util * 100.0,
                        p.rabbit_util * 100.0,
                        p.bench_util * 100.0,
                        p.other_util * 100.0,
                    );
                }
            }
            match t.ratio() {
                Some(r) => println!(
                    "   confirmed rate gateway / bare = {r:.3} (target >= {:.1})",
                    bridge::THROUGHPUT_TARGET
                ),
                None => println!("   confirmed rate gateway / bare: n/a"),
            }
            if let Some(r) = t.ratio_to(Publisher::BareGatewayMessage) {
                println!(
                    "   control: confirmed rate gateway / bare lapin sending the gateway's own message = {r:.3}"
                );
            }
            println!(
                "   gateway's AMQP message: {}",
                t.gateway_message.as_deref().unwrap_or("(none sampled)")
            );
            println!("   bare lapin message:     {}", t.bare_message);
            println!(
                "   \"{}\" (control, once) replays the gateway's message (body, headers, properties) from the bare publisher",
                Publisher::BareGatewayMessage.label()
            );
            println!(
                "   msg/s = confirms (bare) or 200 answers (gateway) inside the window; latency = publish -> confirm (bare) or request written -> 200 read (gateway);"
            );
            println!(
                "   CPU-s/M = gateway utime+stime per million confirmed messages; GW%/rabbit%/bench%/other% = % of one core (RabbitMQ is not pinned, it runs on both CPUs)."
            );
        }
    }
    println!();
    println!(
        "== bridge S4: open loop {:.0} msg/s, {} B structured CloudEvents (MQTT 5 QoS 1, content type application/cloudevents+json; AMQP body = the event's data); warm-up {:.1}s, window {:.1}s; latency = receive time - send timestamp in the payload",
        s.rate,
        s.event_bytes,
        s.warmup.as_secs_f64(),
        s.window.as_secs_f64()
    );
    match &b.latency {
        Err(e) => println!("bridge S4: FAILED: {e}"),
        Ok(l) => {
            println!(
                "{:<20} {:>6} {:>6} {:>6} {:>5} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>5} {:>6} {:>7} {:>6} {:>6}  valid",
                "path",
                "sent",
                "acked",
                "recv",
                "lost",
                "dup",
                "mean ms",
                "p50 ms",
                "p99 ms",
                "p99.9",
                "max ms",
                "lag ms",
                "CPU-s/M",
                "GW%",
                "mosq%",
                "rabbit%",
                "bench%",
                "other%"
            );
            for (path, r) in [
                (bridge::Path::DirectMqtt, &l.mqtt),
                (bridge::Path::DirectAmqp, &l.amqp),
                (bridge::Path::Gateway, &l.gateway),
            ] {
                match r {
                    Err(e) => println!("{:<20} FAILED: {e}", path.label()),
                    Ok(r) => {
                        println!("{}", path_row(r));
                        if r.foreign > 0 {
                            println!(
                                "       {} messages of another path or without a probe",
                                r.foreign
                            );
                        }
                        for e in r.errors.iter().take(5) {
                            println!("       error: {e}");
                        }
                        if let Some(i) = &r.internal {
                            println!(
                                "       gateway's own delivery time (pipeline entry -> AMQP confirm, before the PUBACK), window mean {:.3} ms over {} events; end-to-end mean {:.3} ms",
                                i.mean_ms, i.events, r.mean_ms
                            );
                        }
                    }
                }
            }
            match l.figures() {
                Some(f) => println!(
                    "   added p50 = gateway p50 - (MQTT p50 + AMQP p50) = {:.3} ms (target <= {:.1}); p99 ratio = gateway p99 / (MQTT p99 + AMQP p99) = {:.2} (target <= {:.1}); max ratio = {:.2} (G4c, target <= {:.0}){}",
                    f.added_p50_ms,
                    bridge::ADDED_P50_TARGET_MS,
                    f.p99_ratio,
                    bridge::P99_RATIO_TARGET,
                    f.max_ratio,
                    bridge::MAX_RATIO_TARGET,
                    if l.valid() {
                        ""
                    } else {
                        "  -- INVALID: a path lost, duplicated or failed"
                    }
                ),
                None => println!("   added p50 / p99 ratio: n/a (a path failed)"),
            }
            println!(
                "   diagnostic, not in the ratios: the gateway path again with a bench MQTT subscriber (observer) on its topic, splitting each message's latency at Mosquitto:"
            );
            match &l.split {
                Err(e) => println!("{:<20} FAILED: {e}", bridge::Path::GatewayObserved.label()),
                Ok(split) => {
                    println!("{}", path_row(&split.observed));
                    for e in split.observed.errors.iter().take(5) {
                        println!("       error: {e}");
                    }
                    let leg = |l: Option<crate::fanout::Latency>| {
                        let (p50, p99, p999, max) = quad(l);
                        format!("p50 {p50:.3} / p99 {p99:.3} / p99.9 {p999:.3} / max {max:.3} ms")
                    };
                    println!(
                        "       publish -> observer (MQTT leg):                    {}",
                        leg(split.legs.mqtt_leg)
                    );
                    println!(
                        "       observer -> AMQP consumer (gateway + AMQP leg):    {}",
                        leg(split.legs.after_mosquitto)
                    );
                    if split.legs.observer_lost > 0 || split.legs.observer_dups > 0 {
                        println!(
                            "       the observer lost {} and got {} twice",
                            split.legs.observer_lost, split.legs.observer_dups
                        );
                    }
                }
            }
            println!(
                "   lag = worst delay of a send behind its schedule; CPU-s/M = gateway utime+stime per million messages sent in the window; mosq%/rabbit% = broker CPU, % of one core."
            );
        }
    }
    if let Some(e) = &b.cleanup_error {
        println!("   cleanup: could not delete the exchange/queue: {e}");
    }
    println!();
}

fn quad(l: Option<crate::fanout::Latency>) -> (f64, f64, f64, f64) {
    l.map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |l| {
        (MS(l.p50_us), MS(l.p99_us), MS(l.p999_us), MS(l.max_us))
    })
}

fn throughput_row(p: &ThroughputPhase) -> String {
    let (p50, p99, p999, max) = quad(p.latency());
    let CpuUse {
        gateway,
        rabbit,
        bench,
        other,
        ..
    } = p.cpu;
    format!(
        "{:<6} {:<20} {:>8.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>8} {:>5.0} {:>7.0} {:>6.0} {:>6.0} {:>7}",
        p.round,
        p.publisher.label(),
        p.rate,
        p.hist.mean() / 1000.0,
        p50,
        p99,
        p999,
        max,
        p.refused,
        if p.publisher == Publisher::Gateway {
            format!(
                "{:.1}",
                p.cpu.gateway_secs / (p.confirmed.max(1) as f64 / 1e6)
            )
        } else {
            "-".into()
        },
        gateway * 100.0,
        rabbit * 100.0,
        bench * 100.0,
        other * 100.0,
        p.purged_before
    )
}

fn path_row(r: &PathResult) -> String {
    let (p50, p99, p999, max) = quad(r.latency);
    let gateway = matches!(
        r.path,
        bridge::Path::Gateway | bridge::Path::GatewayObserved
    );
    format!(
        "{:<20} {:>6} {:>6} {:>6} {:>5} {:>4} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>7.2} {:>8} {:>5.0} {:>6.0} {:>7.0} {:>6.0} {:>6.0}  {}",
        r.path.label(),
        r.sent,
        r.acked,
        r.received,
        r.lost,
        r.dups,
        r.mean_ms,
        p50,
        p99,
        p999,
        max,
        r.max_lag_ms,
        if gateway {
            format!("{:.1}", r.cpu_secs_per_million())
        } else {
            "-".into()
        },
        r.cpu.gateway * 100.0,
        r.cpu.mosquitto * 100.0,
        r.cpu.rabbit * 100.0,
        r.cpu.bench * 100.0,
        r.cpu.other * 100.0,
        if r.valid() { "yes" } else { "NO" }
    )
}

fn print_bridge_summary(b: &BridgeResult) {
    println!();
    println!(
        "bridge (S1: closed loop, confirm window {}, pooled over {} round(s); S4: open loop {:.0} msg/s; valid = no loss, duplicate, refusal or error)",
        b.settings.confirm_window,
        b.settings.rounds.max(1),
        b.settings.rate
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>8} {:>5} {:>7}  valid",
        "case", "msg/s", "p50 ms", "p99 ms", "max ms", "CPU-s/M", "GW%", "rabbit%"
    );
    match &b.throughput {
        Err(_) => println!("{:<26} FAILED (see above)", "S1 HTTP->AMQP"),
        Ok(t) => {
            for publisher in [
                Publisher::Gateway,
                Publisher::Bare,
                Publisher::BareGatewayMessage,
            ] {
                let Some(p) = t.pooled(publisher) else {
                    continue;
                };
                let (p50, p99, _, max) = quad(p.latency);
                println!(
                    "{:<26} {:>8.0} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>5.0} {:>7.0}  {}",
                    format!("S1 {}", publisher.label()),
                    p.rate,
                    p50,
                    p99,
                    max,
                    if publisher == Publisher::Gateway {
                        format!("{:.1}", p.cpu_secs_per_million)
                    } else {
                        "-".into()
                    },
                    p.gateway_util * 100.0,
                    p.rabbit_util * 100.0,
                    if p.valid { "yes" } else { "NO" }
                );
            }
        }
    }
    match &b.latency {
        Err(_) => println!("{:<26} FAILED (see above)", "S4 latency"),
        Ok(l) => {
            for r in [&l.mqtt, &l.amqp, &l.gateway] {
                match r {
                    Err(_) => println!("{:<26} FAILED (see above)", "S4 path"),
                    Ok(r) => {
                        let (p50, p99, _, max) = quad(r.latency);
                        let gateway = r.path == bridge::Path::Gateway;
                        println!(
                            "{:<26} {:>8.0} {:>8.3} {:>8.3} {:>8.3} {:>8} {:>5.0} {:>7.0}  {}",
                            format!("S4 {}", r.path.label()),
                            r.window_messages as f64 / r.cpu.window_secs.max(1e-9),
                            p50,
                            p99,
                            max,
                            if gateway {
                                format!("{:.1}", r.cpu_secs_per_million())
                            } else {
                                "-".into()
                            },
                            r.cpu.gateway * 100.0,
                            r.cpu.rabbit * 100.0,
                            if r.valid() {
                                "yes".to_owned()
                            } else {
                                format!("NO (lost {}, dup {})", r.lost, r.dups)
                            }
                        );
                    }
                }
            }
        }
    }
}

/// The bridge's rows of the figure/target table.
fn bridge_figures(b: &BridgeResult) {
    // Like the summary's `row`, but a figure from a run with loss or errors is INVALID.
    let row = |name: String, value: String, target: String, ratio: f64, ok: bool, valid: bool| {
        let verdict = match (valid, ok) {
            (false, _) => "INVALID",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        };
        println!("{name:<46} {value:>18} {target:>10} {ratio:>9.2}  {verdict}");
    };
    match &b.throughput {
        Err(_) => println!(
            "{:<46} {:>18}",
            "S1 confirmed rate gateway / bare lapin", "FAILED"
        ),
        Ok(t) => match (
            t.ratio(),
            t.pooled(Publisher::Gateway),
            t.pooled(Publisher::Bare),
        ) {
            (Some(ratio), Some(g), Some(bare)) => {
                let valid = g.valid && bare.valid;
                row(
                    "S1 confirmed rate gateway / bare lapin".into(),
                    format!("{:.0}/{:.0} = {ratio:.2}x", g.rate, bare.rate),
                    format!(">= {:.1}x", bridge::THROUGHPUT_TARGET),
                    ratio / bridge::THROUGHPUT_TARGET,
                    ratio >= bridge::THROUGHPUT_TARGET,
                    valid,
                );
            }
            _ => println!(
                "{:<46} {:>18}",
                "S1 confirmed rate gateway / bare lapin", "n/a"
            ),
        },
    }
    match b
        .latency
        .as_ref()
        .ok()
        .and_then(|l| Some((l, l.figures()?)))
    {
        None => println!("{:<46} {:>18}", "S4 MQTT->gateway->AMQP latency", "FAILED"),
        Some((l, f)) => {
            let valid = l.valid();
            row(
                "S4 added p50 vs direct MQTT + AMQP (ms)".into(),
                format!("{:.3}", f.added_p50_ms),
                format!("<= {:.1}", bridge::ADDED_P50_TARGET_MS),
                f.added_p50_ms / bridge::ADDED_P50_TARGET_MS,
                f.added_p50_ms <= bridge::ADDED_P50_TARGET_MS,
                valid,
            );
            row(
                "S4 p99 / (direct MQTT p99 + AMQP p99)".into(),
                format!("{:.2}x", f.p99_ratio),
                format!("<= {:.1}x", bridge::P99_RATIO_TARGET),
                f.p99_ratio / bridge::P99_RATIO_TARGET,
                f.p99_ratio <= bridge::P99_RATIO_TARGET,
                valid,
            );
            row(
                "S4 max / (direct MQTT max + AMQP max) (G4c)".into(),
                format!("{:.2}x", f.max_ratio),
                format!("<= {:.1}x", bridge::MAX_RATIO_TARGET),
                f.max_ratio / bridge::MAX_RATIO_TARGET,
                f.max_ratio <= bridge::MAX_RATIO_TARGET,
                valid,
            );
        }
    }
}
