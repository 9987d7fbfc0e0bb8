//! The S4 tables: every latency path, the figures derived from them, and the diagnostic split
//! of the gateway path at Mosquitto.

use super::quad;
use crate::bridge::{self, BridgeResult, LatencyResult, PathResult, Split};

/// S4's heading and tables.
pub fn print(b: &BridgeResult) {
    let s = &b.settings;
    println!(
        "== bridge S4: open loop {:.0} msg/s, {} B structured CloudEvents (MQTT 5 QoS 1, content type application/cloudevents+json; AMQP body = the event's data); warm-up {:.1}s, window {:.1}s; latency = receive time - send timestamp in the payload",
        s.rate,
        s.event_bytes,
        s.warmup.as_secs_f64(),
        s.window.as_secs_f64()
    );
    match &b.latency {
        Err(e) => println!("bridge S4: FAILED: {e}"),
        Ok(l) => print_tables(l),
    }
}

fn print_tables(l: &LatencyResult) {
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
    print_paths(l);
    print_figures(l);
    println!(
        "   diagnostic, not in the ratios: the gateway path again with a bench MQTT subscriber (observer) on its topic, splitting each message's latency at Mosquitto:"
    );
    print_split(&l.split);
    println!(
        "   lag = worst delay of a send behind its schedule; CPU-s/M = gateway utime+stime per million messages sent in the window; mosq%/rabbit% = broker CPU, % of one core."
    );
}

/// One row per path, with its foreign messages, errors and the gateway's own delivery time.
fn print_paths(l: &LatencyResult) {
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
}

/// Added p50, p99 ratio and max ratio.
fn print_figures(l: &LatencyResult) {
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
}

/// The diagnostic run with the MQTT observer, its latency split at Mosquitto.
fn print_split(split: &Result<Split, String>) {
    match split {
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
