//! A subscriber's recorder: turns received events into its statistics, checking per-stream
//! sequence numbers and batching latencies into its shard of the shared histogram.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Probe, SHARDS, Shared, SubStats};

/// Latencies a subscriber gathers before taking its shard's lock.
const LOCAL_BATCH: usize = 64;

/// Turns received events into statistics.
pub struct Recorder {
    pub shared: Arc<Shared>,
    shard: usize,
    batch: Vec<u64>,
    stats: SubStats,
}

impl Recorder {
    pub fn new(shared: Arc<Shared>, index: usize, streams: usize) -> Self {
        Self {
            shared,
            shard: index % SHARDS,
            batch: Vec::new(),
            stats: SubStats {
                next_seq: vec![0; streams],
                ..SubStats::default()
            },
        }
    }

    pub fn on_event(&mut self, payload: &[u8]) {
        self.on_probe(Probe::find(payload));
    }

    /// One received event whose probe the caller found (`None`: the event had none).
    pub fn on_probe(&mut self, probe: Option<Probe>) {
        let now = self.shared.clock.now_ns();
        self.stats.events += 1;
        self.shared.delivered.fetch_add(1, Ordering::Relaxed);
        let Some(probe) = probe else {
            self.stats.malformed += 1;
            return;
        };
        match self.stats.next_seq.get_mut(probe.stream) {
            Some(next) if probe.seq >= *next => {
                self.stats.gaps += probe.seq - *next;
                *next = probe.seq + 1;
            }
            Some(_) => self.stats.dups += 1,
            None => self.stats.malformed += 1,
        }
        let from = self.shared.window_from.load(Ordering::Relaxed);
        let to = self.shared.window_to.load(Ordering::Relaxed);
        if probe.sent_ns >= from && probe.sent_ns < to {
            self.batch
                .push(now.saturating_sub(probe.sent_ns).div_ceil(1000));
            if self.batch.len() >= LOCAL_BATCH {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut hist = self.shared.latency_us[self.shard]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for &us in &self.batch {
            hist.saturating_record(us.max(1));
        }
        self.batch.clear();
    }

    pub fn finish(mut self, reads: u64) -> SubStats {
        self.flush();
        self.stats.reads = reads;
        self.stats
    }
}
