//! The publisher: a few HTTP/1.1 keep-alive connections, each one stream of structured
//! CloudEvents POSTed on an open-loop schedule (event `i` of a stream is due at
//! `start + i * interval`, whatever happened to earlier ones). Each event's data starts with
//! the send timestamp, the stream's sequence number and the stream number; the sequence
//! number only advances when the gateway answered 200, so a refused event is not a gap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::conn;
use crate::subscriber::{Clock, TOPIC};

/// Time allowed for one POST to be answered.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// What to publish.
#[derive(Debug, Clone)]
pub struct Plan {
    pub server: SocketAddr,
    pub clock: Clock,
    /// Concurrent connections, one stream each.
    pub streams: usize,
    /// Events per second, all streams together.
    pub rate: f64,
    /// Publishing stops at this instant.
    pub until: Instant,
    /// Approximate size of each event in the JSON format.
    pub event_bytes: usize,
}

/// Counters the orchestrator samples while publishing runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events the gateway accepted (200), all streams.
    pub accepted: AtomicU64,
}

/// What publishing achieved.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Events accepted per stream (the sequence numbers 0..n were all stored).
    pub sent_per_stream: Vec<u64>,
    /// Non-200 answers.
    pub refused: u64,
    /// Largest delay between an event's due time and its sending, in microseconds.
    pub max_lag_us: u64,
    /// Stream failures (connection errors, timeouts).
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn total_sent(&self) -> u64 {
        self.sent_per_stream.iter().sum()
    }
}

/// Publishes until `plan.until`.
pub async fn run(plan: Plan, progress: Arc<Progress>) -> Outcome {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(plan.streams as f64 / plan.rate.max(0.001));
    // A JoinSet, so that cancelling `run` (a case's time limit) stops every stream.
    let mut tasks = JoinSet::new();
    for stream in 0..plan.streams {
        // Streams are staggered evenly across one interval.
        let offset = interval.mul_f64(stream as f64 / plan.streams as f64);
        let plan = plan.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let result = publish_stream(&plan, stream, start + offset, interval, &progress).await;
            (stream, result)
        });
    }
    let mut outcome = Outcome {
        sent_per_stream: vec![0; plan.streams],
        refused: 0,
        max_lag_us: 0,
        errors: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((stream, result)) => {
                outcome.sent_per_stream[stream] = result.accepted;
                outcome.refused += result.refused;
                outcome.max_lag_us = outcome.max_lag_us.max(result.max_lag_us);
                if let Some(e) = result.error {
                    outcome
                        .errors
                        .push(format!("publisher stream {stream}: {e:#}"));
                }
            }
            Err(e) => outcome.errors.push(format!("publisher task: {e}")),
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct StreamResult {
    accepted: u64,
    refused: u64,
    max_lag_us: u64,
    error: Option<anyhow::Error>,
}

async fn publish_stream(
    plan: &Plan,
    stream: usize,
    first_due: Instant,
    interval: Duration,
    progress: &Progress,
) -> StreamResult {
    let mut result = StreamResult::default();
    if let Err(e) = publish_loop(plan, stream, first_due, interval, progress, &mut result).await {
        result.error = Some(e);
    }
    result
}

async fn publish_loop(
    plan: &Plan,
    stream: usize,
    first_due: Instant,
    interval: Duration,
    progress: &Progress,
    result: &mut StreamResult,
) -> Result<()> {
    let mut socket = TcpStream::connect(plan.server)
        .await
        .context("publisher connect")?;
    socket.set_nodelay(true)?;
    let mut request = Vec::with_capacity(plan.event_bytes + 256);
    let mut scratch = Vec::with_capacity(1024);
    let mut attempt: u64 = 0;
    loop {
        let due = first_due + interval.mul_f64(attempt as f64);
        if due >= plan.until {
            return Ok(());
        }
        tokio::time::sleep_until(due).await;
        let lag = Instant::now().saturating_duration_since(due);
        result.max_lag_us = result.max_lag_us.max(lag.as_micros() as u64);
        write_request(
            &mut request,
            plan,
            stream,
            attempt,
            result.accepted,
            plan.clock.now_ns(),
        );
        let exchange = async {
            socket.write_all(&request).await?;
            conn::read_response(&mut socket, &mut scratch).await
        };
        let status = tokio::time::timeout(POST_TIMEOUT, exchange)
            .await
            .context("POST timed out")??;
        attempt += 1;
        if status == 200 {
            result.accepted += 1;
            progress.accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            result.refused += 1;
            if result.refused > 1000 {
                bail!("gateway refused over 1000 events (last status {status})");
            }
        }
    }
}

/// The full POST request for one event, padded to about `plan.event_bytes` of JSON. The id
/// holds the send time, so no two runs publish the same (`source`, `id`): a hub backplane
/// (JetStream's duplicate window) would rightly store a repeat once.
fn write_request(
    out: &mut Vec<u8>,
    plan: &Plan,
    stream: usize,
    attempt: u64,
    seq: u64,
    sent_ns: u64,
) {
    let head = format!(
        r#"{{"specversion":"1.0","id":"p{stream}-{attempt}-{sent_ns}","source":"/bench/publisher","type":"dev.switchyard.bench.tick","datacontenttype":"application/json","data":{{"ts":{sent_ns},"seq":{seq},"p":{stream},"pad":""#
    );
    let tail = "\"}}";
    let pad = plan.event_bytes.saturating_sub(head.len() + tail.len());
    let body_len = head.len() + pad + tail.len();
    out.clear();
    out.extend_from_slice(
        format!(
            "POST /topics/{TOPIC} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {body_len}\r\n\r\n",
            plan.server
        )
        .as_bytes(),
    );
    out.extend_from_slice(head.as_bytes());
    out.resize(out.len() + pad, b'x');
    out.extend_from_slice(tail.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Probe;

    #[test]
    fn request_body_has_the_requested_size_and_a_probe() {
        let plan = Plan {
            server: SocketAddr::from(([127, 0, 0, 1], 8080)),
            clock: Clock::new(),
            streams: 1,
            rate: 1.0,
            until: Instant::now(),
            event_bytes: 256,
        };
        let mut out = Vec::new();
        write_request(&mut out, &plan, 2, 7, 5, 42);
        let text = String::from_utf8(out).expect("ascii");
        let (_, body) = text.split_once("\r\n\r\n").expect("a head");
        assert_eq!(body.len(), 256);
        let value: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        assert_eq!(value["data"]["seq"], 5);
        assert_eq!(
            Probe::find(body.as_bytes()),
            Some(Probe {
                sent_ns: 42,
                seq: 5,
                stream: 2
            })
        );
    }
}
