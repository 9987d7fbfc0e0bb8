//! The bare publisher of the S1 baseline: a fixed window of mandatory publishes awaiting their
//! confirms on one channel, and what such a closed-loop load achieved.

use std::sync::Arc;

use anyhow::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::time::Instant;
use tokio::time::error::Elapsed;

use super::{CONFIRM_TIMEOUT, ROUTING_KEY};
use crate::bridge::record;

/// What a closed-loop load achieved inside its window.
#[derive(Debug)]
pub struct LoadStats {
    /// Confirmed (or answered 200) with the answer inside the window.
    pub ok_in_window: u64,
    /// All confirmed, warm-up included.
    pub ok_total: u64,
    /// Nacked, returned as unroutable, or refused.
    pub refused: u64,
    /// Per-message latency of the answers inside the window, microseconds.
    pub hist: Histogram<u64>,
    pub errors: Vec<String>,
}

impl LoadStats {
    pub fn new() -> Result<Self> {
        Ok(Self {
            ok_in_window: 0,
            ok_total: 0,
            refused: 0,
            hist: record::histogram()?,
            errors: Vec::new(),
        })
    }

    /// A success answered at `done` for a request started at `started`.
    pub fn ok(&mut self, started: Instant, done: Instant, from: Instant, until: Instant) {
        self.ok_total += 1;
        if done >= from && done < until {
            self.ok_in_window += 1;
            record::record_ns(&mut self.hist, (done - started).as_nanos() as u64);
        }
    }
}

/// The bare publisher: `window` mandatory publishes of `message` always awaiting their confirm
/// on one channel; a new one goes out as soon as one is confirmed. Stops starting publishes at
/// `until`, then waits for the outstanding confirms.
pub async fn confirm_window_load(
    channel: Channel,
    exchange: &str,
    window: usize,
    message: (Vec<u8>, BasicProperties),
    from: Instant,
    until: Instant,
) -> Result<LoadStats> {
    let mut stats = LoadStats::new()?;
    let (body, properties) = message;
    let body = Arc::new(body);
    let exchange = ShortString::from(exchange);
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < window && Instant::now() < until {
            in_flight.push(publish_confirmed(
                channel.clone(),
                exchange.clone(),
                body.clone(),
                properties.clone(),
            ));
        }
        let Some((started, outcome)) = in_flight.next().await else {
            break;
        };
        match outcome {
            Ok(Ok(Confirmation::Ack(None))) => stats.ok(started, Instant::now(), from, until),
            Ok(Ok(other)) => {
                stats.refused += 1;
                if stats.refused <= 3 {
                    stats
                        .errors
                        .push(format!("publish not confirmed: {other:?}"));
                }
            }
            Ok(Err(e)) => {
                stats.errors.push(format!("publish failed: {e}"));
                break;
            }
            Err(_) => {
                stats
                    .errors
                    .push(format!("no confirm within {CONFIRM_TIMEOUT:?}"));
                break;
            }
        }
    }
    Ok(stats)
}

/// One mandatory publish of `body`, awaiting its confirm: when it started, and how it ended.
async fn publish_confirmed(
    channel: Channel,
    exchange: ShortString,
    body: Arc<Vec<u8>>,
    properties: BasicProperties,
) -> (Instant, Result<lapin::Result<Confirmation>, Elapsed>) {
    let started = Instant::now();
    let confirmed = async {
        channel
            .basic_publish(
                exchange,
                ROUTING_KEY.into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &body,
                properties,
            )
            .await?
            .await
    };
    let outcome = tokio::time::timeout(CONFIRM_TIMEOUT, confirmed).await;
    (started, outcome)
}
