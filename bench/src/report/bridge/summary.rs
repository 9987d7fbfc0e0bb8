//! The bridge's part of the summary: one row per S1 publisher and S4 path, and the bridge's
//! rows of the figure/target table.

use super::quad;
use crate::bridge::{self, BridgeResult, LatencyResult, Publisher, ThroughputResult};

/// The bridge section of the summary.
pub fn print_bridge_summary(b: &BridgeResult) {
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
    print_throughput_rows(&b.throughput);
    print_latency_rows(&b.latency);
}

/// S1: one row per publisher, pooled over the rounds.
fn print_throughput_rows(throughput: &Result<ThroughputResult, String>) {
    match throughput {
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
}

/// S4: one row per path.
fn print_latency_rows(latency: &Result<LatencyResult, String>) {
    match latency {
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
pub fn bridge_figures(b: &BridgeResult) {
    throughput_figure(&b.throughput);
    latency_figures(&b.latency);
}

/// Like the summary's figure row, but a figure from a run with loss or errors is INVALID.
fn validated_row(name: String, value: String, target: String, ratio: f64, ok: bool, valid: bool) {
    let verdict = match (valid, ok) {
        (false, _) => "INVALID",
        (true, true) => "PASS",
        (true, false) => "FAIL",
    };
    println!("{name:<46} {value:>18} {target:>10} {ratio:>9.2}  {verdict}");
}

/// S1: the confirmed rate of the gateway against bare lapin.
fn throughput_figure(throughput: &Result<ThroughputResult, String>) {
    match throughput {
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
                validated_row(
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
}

/// S4: added p50, p99 ratio and max ratio.
fn latency_figures(latency: &Result<LatencyResult, String>) {
    match latency.as_ref().ok().and_then(|l| Some((l, l.figures()?))) {
        None => println!("{:<46} {:>18}", "S4 MQTT->gateway->AMQP latency", "FAILED"),
        Some((l, f)) => {
            let valid = l.valid();
            validated_row(
                "S4 added p50 vs direct MQTT + AMQP (ms)".into(),
                format!("{:.3}", f.added_p50_ms),
                format!("<= {:.1}", bridge::ADDED_P50_TARGET_MS),
                f.added_p50_ms / bridge::ADDED_P50_TARGET_MS,
                f.added_p50_ms <= bridge::ADDED_P50_TARGET_MS,
                valid,
            );
            validated_row(
                "S4 p99 / (direct MQTT p99 + AMQP p99)".into(),
                format!("{:.2}x", f.p99_ratio),
                format!("<= {:.1}x", bridge::P99_RATIO_TARGET),
                f.p99_ratio / bridge::P99_RATIO_TARGET,
                f.p99_ratio <= bridge::P99_RATIO_TARGET,
                valid,
            );
            validated_row(
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
