//! What the bridge benchmarks send and check: 256-byte structured CloudEvents whose data starts
//! with `{"ts":<send ns>,"seq":<n>,"p":<path>`, and a recorder on the receiving side that
//! turns arrivals into a latency histogram (events sent inside the window only) and lost /
//! duplicated counts (over everything sent).

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::fanout::Latency;
use crate::subscriber::Clock;

/// Highest latency recorded, in microseconds (60 s); larger values saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// An empty latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).context("cannot create a latency histogram")
}

/// Percentiles of a histogram in microseconds; `None` when it is empty.
pub fn summarize(hist: &Histogram<u64>) -> Option<Latency> {
    (!hist.is_empty()).then(|| Latency {
        samples: hist.len(),
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
    })
}

/// Records `elapsed_ns` into a microsecond histogram (rounded up, at least 1 µs).
pub fn record_ns(hist: &mut Histogram<u64>, elapsed_ns: u64) {
    hist.saturating_record(elapsed_ns.div_ceil(1000).max(1));
}

/// A structured CloudEvent of about `size` bytes, and the byte range of its `data` member
/// (what an AMQP outbound in binary mode publishes as the message body).
pub fn event(id: &str, path: u64, seq: u64, sent_ns: u64, size: usize) -> (Vec<u8>, usize, usize) {
    let head = format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/bench/bridge","type":"dev.switchyard.bench.bridge","datacontenttype":"application/json","data":"#
    );
    let data_head = format!(r#"{{"ts":{sent_ns},"seq":{seq},"p":{path},"pad":""#);
    let data_tail = "\"}";
    let pad = size.saturating_sub(head.len() + data_head.len() + data_tail.len() + 1);
    let mut out = Vec::with_capacity(size.max(head.len() + data_head.len() + 8));
    out.extend_from_slice(head.as_bytes());
    let data_start = out.len();
    out.extend_from_slice(data_head.as_bytes());
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(data_tail.as_bytes());
    let data_end = out.len();
    out.push(b'}');
    (out, data_start, data_end)
}

/// The probe at the start of an event's data: send time, sequence number, path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub sent_ns: u64,
    pub seq: u64,
    pub path: u64,
}

impl Probe {
    const MARK: &'static [u8] = b"{\"ts\":";

    /// Finds the probe in a whole event or in its data alone.
    pub fn find(payload: &[u8]) -> Option<Self> {
        let at = payload
            .windows(Self::MARK.len())
            .position(|w| w == Self::MARK)?;
        let rest = &payload[at + Self::MARK.len()..];
        let (sent_ns, rest) = number(rest)?;
        let rest = rest.strip_prefix(b",\"seq\":")?;
        let (seq, rest) = number(rest)?;
        let rest = rest.strip_prefix(b",\"p\":")?;
        let (path, _) = number(rest)?;
        Some(Self { sent_ns, seq, path })
    }
}

/// A leading decimal number and what follows it.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = bytes[..digits]
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    Some((value, &bytes[digits..]))
}

/// The receiving side of one latency path.
#[derive(Debug)]
pub struct Recorder {
    clock: Clock,
    path: u64,
    /// Latencies are recorded for events sent within `[from_ns, to_ns)`.
    from_ns: u64,
    to_ns: u64,
    /// Times each sequence number arrived (saturating).
    seen: Vec<u8>,
    /// Per sequence number: send timestamp and first arrival (ns on the clock; 0 = never).
    sent_ns: Vec<u64>,
    arrived_ns: Vec<u64>,
    pub received: u64,
    pub unique: u64,
    pub dups: u64,
    /// Messages of another path (left over from an earlier phase) or without a probe.
    pub foreign: u64,
    pub hist: Histogram<u64>,
}

impl Recorder {
    pub fn new(clock: Clock, path: u64, from_ns: u64, to_ns: u64) -> Result<Self> {
        Ok(Self {
            clock,
            path,
            from_ns,
            to_ns,
            seen: Vec::new(),
            sent_ns: Vec::new(),
            arrived_ns: Vec::new(),
            received: 0,
            unique: 0,
            dups: 0,
            foreign: 0,
            hist: histogram()?,
        })
    }

    /// An empty recorder for the same path and window.
    pub fn fresh(&self) -> Result<Self> {
        Self::new(self.clock, self.path, self.from_ns, self.to_ns)
    }

    /// One message arrived (call as soon as it is read).
    pub fn on_message(&mut self, payload: &[u8]) {
        let now = self.clock.now_ns();
        let Some(probe) = Probe::find(payload).filter(|p| p.path == self.path) else {
            self.foreign += 1;
            return;
        };
        self.received += 1;
        let Ok(index) = usize::try_from(probe.seq) else {
            self.foreign += 1;
            return;
        };
        if index >= self.seen.len() {
            let len = (index + 1).max(self.seen.len() * 2);
            self.seen.resize(len, 0);
            self.sent_ns.resize(len, 0);
            self.arrived_ns.resize(len, 0);
        }
        let count = &mut self.seen[index];
        if *count == 0 {
            self.unique += 1;
            self.sent_ns[index] = probe.sent_ns;
            self.arrived_ns[index] = now;
        } else {
            self.dups += 1;
        }
        *count = count.saturating_add(1);
        if probe.sent_ns >= self.from_ns && probe.sent_ns < self.to_ns {
            record_ns(&mut self.hist, now.saturating_sub(probe.sent_ns));
        }
    }

    /// For the messages sent inside the window that arrived: sequence number, send time and
    /// first arrival (ns).
    pub fn window_arrivals(&self) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
        self.sent_ns
            .iter()
            .zip(&self.arrived_ns)
            .enumerate()
            .filter(|&(i, (&sent, _))| {
                self.seen[i] > 0 && sent >= self.from_ns && sent < self.to_ns
            })
            .map(|(i, (&sent, &arrived))| (i, sent, arrived))
    }

    /// First arrival of sequence number `seq`, if it arrived.
    pub fn arrival(&self, seq: usize) -> Option<u64> {
        (self.seen.get(seq).copied().unwrap_or_default() > 0).then(|| self.arrived_ns[seq])
    }

    /// Sequence numbers below `sent` that never arrived.
    pub fn lost(&self, sent: u64) -> u64 {
        (0..sent)
            .filter(|&seq| {
                usize::try_from(seq)
                    .ok()
                    .and_then(|i| self.seen.get(i))
                    .is_none_or(|&c| c == 0)
            })
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_has_the_requested_size_and_a_probe_in_its_data() {
        let (bytes, start, end) = event("b-1", 2, 7, 42, 256);
        assert_eq!(bytes.len(), 256);
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
        assert_eq!(value["data"]["seq"], 7);
        let data: serde_json::Value =
            serde_json::from_slice(&bytes[start..end]).expect("data is JSON");
        assert_eq!(data, value["data"]);
        let probe = Probe {
            sent_ns: 42,
            seq: 7,
            path: 2,
        };
        assert_eq!(Probe::find(&bytes), Some(probe));
        assert_eq!(Probe::find(&bytes[start..end]), Some(probe));
    }

    #[test]
    fn recorder_counts_loss_and_duplicates() {
        let clock = Clock::new();
        let mut rec = Recorder::new(clock, 1, 0, u64::MAX).expect("recorder");
        for seq in [0, 1, 1, 3] {
            rec.on_message(&event("x", 1, seq, 0, 200).0);
        }
        rec.on_message(&event("x", 9, 2, 0, 200).0);
        assert_eq!(
            (rec.received, rec.unique, rec.dups, rec.foreign),
            (4, 3, 1, 1)
        );
        assert_eq!(rec.lost(5), 2);
        assert_eq!(rec.hist.len(), 4);
    }
}
