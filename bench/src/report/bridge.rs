//! The bridge benchmarks' tables (S1 confirmed throughput, S4 latency) and their part of the
//! summary.

mod latency;
mod summary;
mod throughput;

use crate::bridge::BridgeResult;

pub use summary::{bridge_figures, print_bridge_summary};

const MS: fn(u64) -> f64 = |us| us as f64 / 1000.0;

/// The bridge benchmarks' tables, printed when they are done.
pub fn print_bridge(b: &BridgeResult) {
    throughput::print(b);
    println!();
    latency::print(b);
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
