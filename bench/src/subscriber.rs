//! Subscriber clients (SSE over a raw socket, WebSocket with tokio-tungstenite) and what they
//! record: per publisher stream, sequence numbers are checked for gaps and duplicates, and the
//! delivery latency (receive time minus the send timestamp in the event) goes into a sharded
//! HdrHistogram.

mod recorder;
mod sse;
mod ws;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, watch};

pub use recorder::Recorder;

/// The topic every subscriber listens on and the publisher writes to.
pub const TOPIC: &str = "bench";
/// Latency histograms are sharded to keep lock contention negligible.
const SHARDS: usize = 16;
/// Highest latency recorded, in microseconds (60 s); larger values saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// The kind of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Sse,
    Ws,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sse => "SSE",
            Self::Ws => "WS",
        })
    }
}

/// Nanoseconds since one `Instant` shared by the publisher and every subscriber.
#[derive(Debug, Clone, Copy)]
pub struct Clock(Instant);

impl Clock {
    pub fn new() -> Self {
        Self(Instant::now())
    }

    pub fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// State shared by every subscriber of one run.
#[derive(Debug)]
pub struct Shared {
    pub clock: Clock,
    /// Subscribers connected and subscribed so far.
    pub connected: AtomicUsize,
    /// Events received by all subscribers together.
    pub delivered: AtomicU64,
    /// Latencies are recorded for events sent within `[window_from, window_to)` (ns).
    pub window_from: AtomicU64,
    pub window_to: AtomicU64,
    latency_us: Vec<Mutex<Histogram<u64>>>,
}

impl Shared {
    pub fn new(clock: Clock) -> Result<Arc<Self>> {
        let latency_us = (0..SHARDS)
            .map(|_| Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot create a latency histogram")?;
        Ok(Arc::new(Self {
            clock,
            connected: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            window_from: AtomicU64::new(u64::MAX),
            window_to: AtomicU64::new(u64::MAX),
            latency_us,
        }))
    }

    /// All shards merged.
    pub fn latency_us(&self) -> Result<Histogram<u64>> {
        let mut all = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?;
        for shard in &self.latency_us {
            all.add(&*shard.lock().unwrap_or_else(|e| e.into_inner()))?;
        }
        Ok(all)
    }
}

/// What one subscriber saw.
#[derive(Debug, Default, Clone)]
pub struct SubStats {
    /// Events received.
    pub events: u64,
    /// Reads from the socket that returned data.
    pub reads: u64,
    /// Sequence numbers skipped (events lost inside the stream).
    pub gaps: u64,
    /// Events whose sequence number was not above the last one seen (duplicates, reordering).
    pub dups: u64,
    /// Events without the fields the publisher writes.
    pub malformed: u64,
    /// Per publisher stream: the next sequence number expected.
    pub next_seq: Vec<u64>,
    /// Could not connect or subscribe.
    pub connect_error: Option<String>,
    /// The stream ended before the run did, and why.
    pub closed: Option<String>,
}

impl SubStats {
    /// Events published after the last one received, given how many each stream published.
    pub fn tail(&self, sent_per_stream: &[u64]) -> u64 {
        sent_per_stream
            .iter()
            .enumerate()
            .map(|(p, sent)| sent.saturating_sub(self.next_seq.get(p).copied().unwrap_or_default()))
            .sum()
    }
}

/// The measurement fields the publisher puts at the start of each event's data:
/// `"data":{"ts":<ns>,"seq":<n>,"p":<stream>,...`.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe {
    pub sent_ns: u64,
    pub seq: u64,
    pub stream: usize,
}

impl Probe {
    const MARK: &'static [u8] = b"\"data\":{\"ts\":";
    /// The start of the data alone.
    const DATA_MARK: &'static [u8] = b"{\"ts\":";

    pub fn find(event: &[u8]) -> Option<Self> {
        Self::after(event, Self::MARK)
    }

    /// The probe in bytes that hold the data as it is, without the JSON format's `"data":`
    /// key: a protobuf CloudEvent, whose JSON data travels verbatim as `text_data`.
    pub fn find_in_data(bytes: &[u8]) -> Option<Self> {
        Self::after(bytes, Self::DATA_MARK)
    }

    fn after(event: &[u8], mark: &[u8]) -> Option<Self> {
        let at = event.windows(mark.len()).position(|w| w == mark)?;
        let rest = &event[at + mark.len()..];
        let (sent_ns, rest) = number(rest)?;
        let rest = rest.strip_prefix(b",\"seq\":")?;
        let (seq, rest) = number(rest)?;
        let rest = rest.strip_prefix(b",\"p\":")?;
        let (stream, _) = number(rest)?;
        Some(Self {
            sent_ns,
            seq,
            stream: usize::try_from(stream).ok()?,
        })
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

/// Everything one subscriber task needs.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    pub index: usize,
    pub source: Ipv4Addr,
    pub server: SocketAddr,
    /// Publisher streams, for sequence checking.
    pub streams: usize,
}

/// Connects (holding a permit of `connecting` meanwhile), then receives until `stop` turns
/// true or the stream ends.
pub async fn run(
    spec: Spec,
    shared: Arc<Shared>,
    connecting: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
) -> SubStats {
    let recorder = Recorder::new(shared, spec.index, spec.streams);
    let outcome = match spec.kind {
        Kind::Sse => sse::run(&spec, recorder, connecting, stop).await,
        Kind::Ws => ws::run(&spec, recorder, connecting, stop).await,
    };
    outcome.unwrap_or_else(|e| SubStats {
        connect_error: Some(format!("{e:#}")),
        ..SubStats::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_the_publisher_fields() {
        let event =
            br#"{"specversion":"1.0","id":"p1-9","data":{"ts":123456,"seq":9,"p":1,"pad":"xx"}}"#;
        assert_eq!(
            Probe::find(event),
            Some(Probe {
                sent_ns: 123_456,
                seq: 9,
                stream: 1
            })
        );
        assert_eq!(Probe::find(br#"{"data":{"seq":1}}"#), None);
    }
}
