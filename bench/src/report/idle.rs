//! The idle-memory lines: RSS by connection count and the slope per connection.

use super::IdleEntry;

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
