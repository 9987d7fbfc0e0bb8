//! The codec table: nanoseconds per event for every variant and the ratios to serde_json.

use std::fmt::Write as _;

use crate::codec::{CodecResult, Variant};

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
