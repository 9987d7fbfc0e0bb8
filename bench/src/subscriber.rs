//! Subscriber clients (SSE over a raw socket, WebSocket with tokio-tungstenite) and what they
//! record: per publisher stream, sequence numbers are checked for gaps and duplicates, and the
//! delivery latency (receive time minus the send timestamp in the event) goes into a sharded
//! HdrHistogram.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::conn::{self, CountingStream};
use crate::sse::{Block, SseClient};

/// The topic every subscriber listens on and the publisher writes to.
pub const TOPIC: &str = "bench";
/// WebSocket read buffer of each client (tungstenite's default is 128 KiB).
const WS_READ_BUFFER: usize = 4 * 1024;
/// Latency histograms are sharded to keep lock contention negligible.
const SHARDS: usize = 16;
/// Latencies a subscriber gathers before taking its shard's lock.
const LOCAL_BATCH: usize = 64;
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

/// Turns received events into statistics.
struct Recorder {
    shared: Arc<Shared>,
    shard: usize,
    batch: Vec<u64>,
    stats: SubStats,
}

impl Recorder {
    fn new(shared: Arc<Shared>, index: usize, streams: usize) -> Self {
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

    fn on_event(&mut self, payload: &[u8]) {
        let now = self.shared.clock.now_ns();
        self.stats.events += 1;
        self.shared.delivered.fetch_add(1, Ordering::Relaxed);
        let Some(probe) = Probe::find(payload) else {
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

    fn finish(mut self, reads: u64) -> SubStats {
        self.flush();
        self.stats.reads = reads;
        self.stats
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

    pub fn find(event: &[u8]) -> Option<Self> {
        let at = event
            .windows(Self::MARK.len())
            .position(|w| w == Self::MARK)?;
        let rest = &event[at + Self::MARK.len()..];
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

/// The `error` member of an SSE error event's data (`slow_consumer`, `hub_closed`).
fn error_code(block: &[u8]) -> String {
    const KEY: &[u8] = b"\"error\":\"";
    block
        .windows(KEY.len())
        .position(|w| w == KEY)
        .map(|at| &block[at + KEY.len()..])
        .and_then(|rest| rest.split(|&b| b == b'"').next())
        .map_or_else(
            || "no error code".into(),
            |code| String::from_utf8_lossy(code).into_owned(),
        )
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
        Kind::Sse => run_sse(&spec, recorder, connecting, stop).await,
        Kind::Ws => run_ws(&spec, recorder, connecting, stop).await,
    };
    outcome.unwrap_or_else(|e| SubStats {
        connect_error: Some(format!("{e:#}")),
        ..SubStats::default()
    })
}

async fn run_sse(
    spec: &Spec,
    mut recorder: Recorder,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubStats> {
    let mut client = {
        let _permit = connecting.acquire().await?;
        SseClient::connect(spec.source, spec.server, &format!("/topics/{TOPIC}")).await?
    };
    recorder.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut closed = None;
    loop {
        let mut on_block = |block: Block<'_>| match block {
            Block::Event(event) => recorder.on_event(event),
            Block::Error(text) => {
                closed = Some(format!("SSE event: error ({})", error_code(text)));
            }
            Block::Meta => {}
        };
        let read = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            read = client.read_blocks(&mut on_block) => read,
        };
        match read {
            Ok(true) if closed.is_none() => {}
            Ok(true) => break,
            Ok(false) => {
                closed.get_or_insert_with(|| "end of stream".into());
                break;
            }
            Err(e) => {
                closed = Some(format!("read error: {e:#}"));
                break;
            }
        }
    }
    conn::abort(client.tcp());
    let reads = client.reads;
    let mut stats = recorder.finish(reads);
    stats.closed = closed;
    Ok(stats)
}

async fn run_ws(
    spec: &Spec,
    mut recorder: Recorder,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubStats> {
    let mut socket = {
        let _permit = connecting.acquire().await?;
        let tcp = conn::connect_from(spec.source, spec.server)
            .await
            .with_context(|| format!("connect from {}", spec.source))?;
        let mut request = format!("ws://{}/topics/{TOPIC}", spec.server).into_client_request()?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("cloudevents.json"),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(64 * 1024);
        let (socket, _response) = tokio_tungstenite::client_async_with_config(
            request,
            CountingStream::new(tcp),
            Some(config),
        )
        .await
        .context("websocket handshake")?;
        socket
    };
    recorder.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut closed = None;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            next = socket.next() => next,
        };
        match next {
            Some(Ok(Message::Text(text))) => recorder.on_event(text.as_bytes()),
            Some(Ok(Message::Close(frame))) => {
                closed = Some(match frame {
                    Some(f) => format!("close {} {}", u16::from(f.code), f.reason),
                    None => "close without code".into(),
                });
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                closed = Some(format!("read error: {e}"));
                break;
            }
            None => {
                closed = Some("end of stream".into());
                break;
            }
        }
    }
    // No closing handshake: a reset frees both ends at once.
    conn::abort(socket.get_ref().tcp());
    let reads = socket.get_ref().reads();
    let mut stats = recorder.finish(reads);
    stats.closed = closed;
    Ok(stats)
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

    #[test]
    fn error_code_of_an_sse_error_event() {
        let block = br#"event: error
data: {"error":"slow_consumer","message":"slow consumer: 2 events queued and not read"}"#;
        assert_eq!(error_code(block), "slow_consumer");
    }
}
