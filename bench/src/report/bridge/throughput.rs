//! The S1 tables: every confirmed-throughput phase, the publishers pooled over the rounds, and
//! the gateway/bare comparison.

use super::quad;
use crate::bridge::{self, BridgeResult, CpuUse, Publisher, ThroughputPhase, ThroughputResult};

/// S1's heading and tables.
pub fn print(b: &BridgeResult) {
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
        Ok(t) => print_tables(t),
    }
}

fn print_tables(t: &ThroughputResult) {
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
    print_phases(&t.phases);
    print_pooled(t);
    print_comparison(t);
}

/// One row per phase, with its errors and the gateway's own delivery time.
fn print_phases(phases: &[ThroughputPhase]) {
    for phase in phases {
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
}

/// One row per publisher, pooled over the rounds.
fn print_pooled(t: &ThroughputResult) {
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
}

/// The rate ratios, the two messages' layouts and what the columns mean.
fn print_comparison(t: &ThroughputResult) {
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
