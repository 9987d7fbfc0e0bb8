//! The fan-out tables: one row per case as it completes (with its details), and the fan-out
//! part of the summary.

use super::{EVENTS_PER_WRITE_TARGET, FanoutEntry};

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

pub fn print_fanout_summary(entries: &[FanoutEntry]) {
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
        print_fanout_summary_row(entry);
    }
}

/// One case of the summary's fan-out table.
fn print_fanout_summary_row(entry: &FanoutEntry) {
    let case = format!("{} N={}", entry.kind, entry.n);
    let r = match &entry.outcome {
        Ok(r) => r,
        Err(_) => {
            println!("{case:<13} FAILED (see above)");
            return;
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
