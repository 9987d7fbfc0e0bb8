//! The closing summary: the fan-out and bridge tables, then every headline figure against its
//! target from the benchmark plan.

use super::{CODEC_TARGET_RATIO, Env, IdleEntry, Report, bridge, fanout};
use crate::codec::{CodecResult, Variant};
use crate::sysinfo;

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
        fanout::print_fanout_summary(&report.fanout);
    }
    if let Some(b) = &report.bridge {
        bridge::print_bridge_summary(b);
    }
    if !report.idle.is_empty() || report.codec.is_some() || report.bridge.is_some() {
        println!();
        println!(
            "{:<46} {:>18} {:>10} {:>9}  verdict",
            "figure", "value", "target", "x target"
        );
    }
    idle_figures(&report.idle);
    codec_figures(report.codec.as_ref());
    if let Some(b) = &report.bridge {
        bridge::bridge_figures(b);
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

/// One row of the figure/target table.
fn figure_row(name: String, value: String, target: String, ratio: f64, ok: bool) {
    let verdict = if ok { "PASS" } else { "FAIL" };
    println!("{name:<46} {value:>18} {target:>10} {ratio:>9.2}  {verdict}");
}

/// The idle-memory rows of the figure/target table.
fn idle_figures(entries: &[IdleEntry]) {
    for entry in entries {
        let name = format!("idle memory per {} connection (KiB)", entry.kind);
        match &entry.outcome {
            Err(_) => println!("{name:<46} {:>18}", "FAILED"),
            Ok(r) => figure_row(
                name,
                format!("{:.2}", r.slope_kib),
                format!("<= {:.0}", r.target_kib),
                r.slope_kib / r.target_kib,
                r.slope_kib <= r.target_kib,
            ),
        }
    }
}

/// The codec rows of the figure/target table.
fn codec_figures(codec: Option<&Result<Vec<CodecResult>, String>>) {
    match codec {
        None => {}
        Some(Err(_)) => println!("{:<46} {:>18}", "codec", "FAILED"),
        Some(Ok(results)) => {
            for r in results {
                let ns = r.ns_of(Variant::CeRoundTrip);
                figure_row(
                    format!("codec {}: vs serde_json Value", r.name),
                    format!("{ns:.0} ns = {:.2}x", r.ratio_value()),
                    format!("<= {CODEC_TARGET_RATIO:.1}x"),
                    r.ratio_value() / CODEC_TARGET_RATIO,
                    r.ratio_value() <= CODEC_TARGET_RATIO,
                );
                figure_row(
                    format!("codec {}: vs serde_json borrowed", r.name),
                    format!("{:.2}x", r.ratio_borrowed()),
                    format!("<= {CODEC_TARGET_RATIO:.1}x"),
                    r.ratio_borrowed() / CODEC_TARGET_RATIO,
                    r.ratio_borrowed() <= CODEC_TARGET_RATIO,
                );
            }
        }
    }
}
