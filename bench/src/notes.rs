//! Observations worth a line under the summary: a CPU-bound gateway or harness, a noisy
//! machine, a publisher that fell behind its schedule.

use crate::bridge;
use crate::report::Report;

/// Observations worth a line under the summary.
pub fn add_notes(report: &mut Report) {
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
