//! The printed report: the run's identification, one table per benchmark as it completes, and
//! a final summary with each figure against its target from the benchmark plan
//! (`shared/reliability.md` section 2).

use std::fmt::Write as _;

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
    if !report.idle.is_empty() || report.codec.is_some() {
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
