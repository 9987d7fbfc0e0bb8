//! The fan-out cases' publisher: a few streams of unary `Gateway/Publish` calls sharing one
//! HTTP/2 connection, each on an open-loop schedule like the HTTP publisher's
//! (`crate::publisher`): event `i` of a stream is due at `start + i * interval`, whatever
//! happened to earlier ones. A stream's sequence number advances only when the gateway
//! accepted the call, so a refused event is not a gap.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use switchyard_grpc::switchyard_v1::gateway_client::GatewayClient;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::publish_request;
use crate::publisher::{Outcome, Progress};
use crate::subscriber::Clock;

/// Time allowed for one call to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A stream gives up after this many refused calls.
const MAX_REFUSED: u64 = 1000;

/// What to publish.
#[derive(Debug, Clone)]
pub struct Plan {
    pub client: GatewayClient<Channel>,
    pub clock: Clock,
    /// Concurrent call streams.
    pub streams: usize,
    /// Events per second, all streams together.
    pub rate: f64,
    /// Publishing stops at this instant.
    pub until: Instant,
    pub event_bytes: usize,
}

/// Publishes until `plan.until`; the result has the HTTP publisher's shape.
pub async fn run(plan: Plan, progress: Arc<Progress>) -> Outcome {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(plan.streams as f64 / plan.rate.max(0.001));
    let mut tasks = JoinSet::new();
    for stream in 0..plan.streams {
        // Streams are staggered evenly across one interval.
        let first_due = start + interval.mul_f64(stream as f64 / plan.streams as f64);
        let (plan, progress) = (plan.clone(), progress.clone());
        tasks.spawn(async move {
            let mut result = StreamResult::default();
            let ended = publish_loop(&plan, stream, first_due, interval, &progress, &mut result);
            let error = ended.await.err();
            (stream, result, error)
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
            Ok((stream, result, error)) => {
                outcome.sent_per_stream[stream] = result.accepted;
                outcome.refused += result.refused;
                outcome.max_lag_us = outcome.max_lag_us.max(result.max_lag_us);
                if let Some(e) = error {
                    outcome
                        .errors
                        .push(format!("gRPC publisher {stream}: {e:#}"));
                }
            }
            Err(e) => outcome.errors.push(format!("gRPC publisher task: {e}")),
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct StreamResult {
    accepted: u64,
    refused: u64,
    max_lag_us: u64,
}

async fn publish_loop(
    plan: &Plan,
    stream: usize,
    first_due: Instant,
    interval: Duration,
    progress: &Progress,
    result: &mut StreamResult,
) -> Result<()> {
    let mut client = plan.client.clone();
    let mut attempt: u64 = 0;
    loop {
        let due = first_due + interval.mul_f64(attempt as f64);
        if due >= plan.until {
            return Ok(());
        }
        tokio::time::sleep_until(due).await;
        let lag = Instant::now().saturating_duration_since(due);
        result.max_lag_us = result.max_lag_us.max(lag.as_micros() as u64);
        let sent_ns = plan.clock.now_ns();
        let request = publish_request(stream, attempt, result.accepted, sent_ns, plan.event_bytes)?;
        attempt += 1;
        let answer = tokio::time::timeout(CALL_TIMEOUT, client.publish(request))
            .await
            .context("Publish timed out")?;
        match answer {
            Ok(_) => {
                result.accepted += 1;
                progress.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(status) => {
                result.refused += 1;
                if result.refused > MAX_REFUSED {
                    bail!(
                        "gateway refused over {MAX_REFUSED} events (last: {:?} {})",
                        status.code(),
                        status.message()
                    );
                }
            }
        }
    }
}
