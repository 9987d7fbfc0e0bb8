//! The gRPC benchmark's tables, in markdown: one fan-out row per case as it completes, the
//! gRPC/SSE ratios per N, and the unary round-trip table with the gateway/echo ratio.

use crate::grpc::{FanoutCase, Pooled, Settings, Subscribers, Target, UnaryResult};

/// Unary target: gateway calls/s at least this share of the bare echo server's.
pub const UNARY_TARGET_RATIO: f64 = 0.7;

/// One gRPC fan-out case as it ended: its figures, or why it failed.
#[derive(Debug)]
pub struct GrpcFanoutEntry {
    pub subscribers: Subscribers,
    pub n: usize,
    /// Which pair of cases of this N it belongs to, from 1.
    pub round: usize,
    pub outcome: Result<FanoutCase, String>,
}

pub fn print_grpc_fanout_header(s: &Settings, ns: &[usize]) {
    println!(
        "== grpc fan-out: gRPC Publish ({} call streams on one HTTP/2 connection, {} B structured JSON events sent as protobuf CloudEvents) at min({:.0} ev/s, {:.0} deliveries/s / N) -> hub -> N gRPC Subscribe streams ({} per HTTP/2 connection) vs N SSE subscribers; N = {ns:?}; warm-up {:.1}s, window {:.1}s; fresh gateway per case",
        s.publishers,
        s.event_bytes,
        s.rate,
        s.max_deliveries,
        crate::grpc::STREAMS_PER_CHANNEL,
        s.warmup.as_secs_f64(),
        s.window.as_secs_f64(),
    );
    println!();
    println!(
        "| subscribers | N | round | ev/s | expected | received | lost | dup | disc | deliv/s | GW CPU-s | GW % | deliv per GW CPU-s | p50 ms | p99 ms | bench % | other % | RSS MiB | valid |"
    );
    println!(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
}

pub fn print_grpc_fanout_row(entry: &GrpcFanoutEntry) {
    let r = match &entry.outcome {
        Ok(r) => r,
        Err(e) => {
            let e = e.replace('\n', " / ");
            let (kind, n, round) = (entry.subscribers, entry.n, entry.round);
            println!("| {kind} | {n} | {round} | FAILED: {e} |");
            return;
        }
    };
    let (p50, p99) = r.latency.map_or((f64::NAN, f64::NAN), |l| {
        (l.p50_us as f64 / 1000.0, l.p99_us as f64 / 1000.0)
    });
    let disconnected: usize = r.disconnects.values().sum();
    println!(
        "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} | {} |",
        r.subscribers,
        r.n,
        entry.round,
        r.rate,
        r.expected,
        r.received,
        r.lost,
        r.dups,
        disconnected,
        r.deliveries_per_sec(),
        r.gateway_cpu_secs,
        r.gateway_cpu_secs / r.window_secs * 100.0,
        r.deliveries_per_cpu_sec(),
        p50,
        p99,
        r.bench_cpu_secs / r.window_secs * 100.0,
        r.other_cpu_secs / r.window_secs * 100.0,
        r.rss_kib as f64 / 1024.0,
        if r.valid() { "yes" } else { "NO" }
    );
}

/// What does not fit a row: publisher health, disconnect reasons, errors.
pub fn print_grpc_fanout_details(entries: &[GrpcFanoutEntry]) {
    for entry in entries {
        let Ok(r) = &entry.outcome else { continue };
        let case = format!("{} N={} round {}", r.subscribers, r.n, entry.round);
        println!(
            "- {case}: connect {:.1}s; published {} (refused {}), publisher max lag {:.1} ms; window {:.2}s",
            r.connect_secs, r.published, r.refused, r.publisher_max_lag_ms, r.window_secs
        );
        for (reason, count) in &r.disconnects {
            println!("  - {count} subscribers ended early: {reason}");
        }
        if r.malformed > 0 {
            println!("  - {} events without the probe", r.malformed);
        }
        if r.other_cpu_secs / r.window_secs > 0.2 {
            println!("  - note: other processes were busy during the window; figures are noisy");
        }
        for e in r.errors.iter().take(5) {
            println!("  - error: {e}");
        }
    }
}

/// One protocol's cases of one N pooled: total deliveries over total gateway CPU.
#[derive(Debug, Default)]
struct PooledFanout {
    cases: usize,
    deliveries: u64,
    cpu_secs: f64,
    lost: u64,
    valid: bool,
    /// Deliveries per CPU-second of each round's case, by round.
    per_round: Vec<(usize, f64)>,
}

impl PooledFanout {
    fn of(entries: &[GrpcFanoutEntry], kind: Subscribers, n: usize) -> Option<Self> {
        let mut pooled = Self {
            valid: true,
            ..Self::default()
        };
        for e in entries.iter().filter(|e| e.subscribers == kind && e.n == n) {
            let Ok(r) = &e.outcome else { return None };
            pooled.cases += 1;
            pooled.deliveries += r.deliveries_in_window;
            pooled.cpu_secs += r.gateway_cpu_secs;
            pooled.lost += r.lost;
            pooled.valid &= r.valid();
            pooled.per_round.push((e.round, r.deliveries_per_cpu_sec()));
        }
        (pooled.cases > 0).then_some(pooled)
    }

    fn per_cpu_sec(&self) -> f64 {
        self.deliveries as f64 / self.cpu_secs.max(1e-9)
    }
}

/// gRPC against SSE for each N, each protocol's rounds pooled, from the same run.
pub fn print_grpc_fanout_ratios(entries: &[GrpcFanoutEntry], ns: &[usize]) {
    println!();
    println!(
        "| N | gRPC deliv per GW CPU-s | SSE deliv per GW CPU-s | gRPC / SSE | per round | gRPC CPU-s per M | SSE CPU-s per M | gRPC lost | SSE lost | all valid |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---:|---:|---|");
    for &n in ns {
        let (Some(g), Some(s)) = (
            PooledFanout::of(entries, Subscribers::Grpc, n),
            PooledFanout::of(entries, Subscribers::Sse, n),
        ) else {
            println!("| {n} | FAILED (see above) |");
            continue;
        };
        let (gd, sd) = (g.per_cpu_sec(), s.per_cpu_sec());
        let rounds: Vec<String> = g
            .per_round
            .iter()
            .filter_map(|&(round, gr)| {
                let (_, sr) = s.per_round.iter().find(|(r, _)| *r == round)?;
                Some(format!("{:.2}", gr / sr))
            })
            .collect();
        println!(
            "| {n} | {gd:.0} | {sd:.0} | {:.2} | {} | {:.2} | {:.2} | {} | {} | {} |",
            gd / sd,
            rounds.join(", "),
            1e6 / gd,
            1e6 / sd,
            g.lost,
            s.lost,
            if g.valid && s.valid { "yes" } else { "NO" }
        );
    }
    println!();
    println!(
        "deliv per GW CPU-s = deliveries received by the subscribers in the window / gateway utime+stime in it (pooled: sums over the rounds); per round = that round's gRPC / SSE; expected = accepted publishes x N over the whole run; lost = sequence numbers a subscriber never received (after a drain); GW % / bench % / other % = CPU of the gateway / this harness / everything else on the machine, % of one core (other % well above 0: the figures are noisy)."
    );
    println!();
}

/// The unary table: both servers pooled over their phases, and the ratio to the target.
pub fn print_grpc_unary(s: &Settings, unary: &Result<UnaryResult, String>) {
    println!(
        "== grpc unary: {} closed-loop callers over {} HTTP/2 connections calling Gateway/Publish ({} B event), gateway (default routes: to the hub, no subscribers) vs a bare tonic echo server (from_proto, answer the id; separate process on the gateway's CPU); {} phase pairs alternating, warm-up {:.1}s, window {:.1}s each",
        s.callers,
        s.channels,
        s.event_bytes,
        s.rounds,
        s.warmup.as_secs_f64(),
        s.window.as_secs_f64()
    );
    println!();
    let result = match unary {
        Ok(r) => r,
        Err(e) => {
            println!("grpc unary: FAILED: {e}");
            return;
        }
    };
    let (echo, gateway) = match (result.pooled(Target::Echo), result.pooled(Target::Gateway)) {
        (Ok(e), Ok(g)) => (e, g),
        (Err(e), _) | (_, Err(e)) => {
            println!("grpc unary: FAILED: {e:#}");
            return;
        }
    };
    print_unary_rows(&echo, &gateway);
    print_unary_figures(result, &echo, &gateway);
}

/// One row per server, its phases pooled.
fn print_unary_rows(echo: &Pooled, gateway: &Pooled) {
    println!(
        "| server | phases | calls | calls/s | p50 ms | p99 ms | server CPU % | server CPU-s per M calls | bench % | other % | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (target, p) in [(Target::Echo, echo), (Target::Gateway, gateway)] {
        let (p50, p99) = p.latency.map_or((f64::NAN, f64::NAN), |l| {
            (l.p50_us as f64 / 1000.0, l.p99_us as f64 / 1000.0)
        });
        println!(
            "| {target} | {} | {} | {:.0} | {p50:.3} | {p99:.3} | {:.0} | {:.2} | {:.0} | {:.0} | {} |",
            p.phases,
            p.calls,
            p.calls_per_sec,
            p.server_util * 100.0,
            p.cpu_secs_per_million,
            p.bench_util * 100.0,
            p.other_util * 100.0,
            p.errors
        );
    }
}

/// The gateway/echo ratios, notes on saturation and noise, and the phases' errors.
fn print_unary_figures(result: &UnaryResult, echo: &Pooled, gateway: &Pooled) {
    let ratio = gateway.calls_per_sec / echo.calls_per_sec.max(1e-9);
    let verdict = if ratio >= UNARY_TARGET_RATIO && gateway.errors == 0 {
        "PASS"
    } else {
        "FAIL"
    };
    println!();
    println!("| figure | value | target | verdict |");
    println!("|---|---:|---:|---|");
    println!("| gateway / echo calls/s | {ratio:.2} | >= {UNARY_TARGET_RATIO:.1} | {verdict} |");
    println!(
        "| gateway / echo server CPU per call | {:.2} | - | - |",
        gateway.cpu_secs_per_million / echo.cpu_secs_per_million.max(1e-9)
    );
    for (target, p) in [(Target::Echo, echo), (Target::Gateway, gateway)] {
        if p.bench_util > 0.9 {
            println!(
                "- note: against the {target} the harness used {:.0}% of its core: calls/s may be client-bound there; the CPU-per-call ratio compares the servers alone",
                p.bench_util * 100.0
            );
        }
        if p.other_util > 0.2 {
            println!(
                "- note: other processes used {:.0}% of a core during the {target} phases; figures are noisy",
                p.other_util * 100.0
            );
        }
    }
    for p in result.phases.iter().filter(|p| p.first_error.is_some()) {
        println!(
            "- {} phase: {} errors, first: {}",
            p.target,
            p.errors,
            p.first_error.as_deref().unwrap_or_default()
        );
    }
    println!();
}
