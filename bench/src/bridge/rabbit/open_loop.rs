//! The open-loop AMQP publisher of the direct AMQP latency path: the data of each event on
//! the schedule, confirms collected without holding the schedule.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use tokio::time::Instant;

use super::{CONFIRM_TIMEOUT, ROUTING_KEY};
use crate::bridge::{Schedule, record};

/// What an open-loop publisher did.
#[derive(Debug, Default)]
pub struct OpenLoopStats {
    pub sent: u64,
    /// Acknowledged by the broker (PUBACK, or publisher confirm).
    pub acked: u64,
    pub max_lag_us: u64,
    pub errors: Vec<String>,
}

/// Publishes the data of path `path`'s events at `rate` per second from `start` until `until`
/// (persistent, mandatory, confirm mode; confirms are collected without holding the schedule).
pub async fn open_loop_publish(
    channel: Channel,
    exchange: &str,
    schedule: Schedule,
) -> OpenLoopStats {
    let mut stats = OpenLoopStats::default();
    let exchange = ShortString::from(exchange);
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let mut confirms = FuturesUnordered::new();
    let mut seq: u64 = 0;
    loop {
        let due = schedule.due(seq);
        if due >= schedule.until {
            break;
        }
        // Wait for the due time, taking confirms as they come.
        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(due) => break,
                Some(outcome) = confirms.next(), if !confirms.is_empty() => {
                    tally_confirm(&mut stats, outcome);
                }
            }
        }
        stats.max_lag_us = stats
            .max_lag_us
            .max(Instant::now().saturating_duration_since(due).as_micros() as u64);
        let published = publish_data(&channel, &exchange, &properties, &schedule, seq).await;
        match published {
            Ok(confirm) => {
                stats.sent += 1;
                confirms.push(tokio::time::timeout(CONFIRM_TIMEOUT, confirm));
            }
            Err(e) => {
                stats.errors.push(format!("publish failed: {e}"));
                break;
            }
        }
        seq += 1;
    }
    while let Some(outcome) = confirms.next().await {
        tally_confirm(&mut stats, outcome);
    }
    stats
}

fn tally_confirm(
    stats: &mut OpenLoopStats,
    outcome: Result<lapin::Result<Confirmation>, tokio::time::error::Elapsed>,
) {
    match outcome {
        Ok(Ok(Confirmation::Ack(None))) => stats.acked += 1,
        Ok(Ok(other)) if stats.errors.len() < 5 => {
            stats
                .errors
                .push(format!("publish not confirmed: {other:?}"));
        }
        Ok(Err(e)) if stats.errors.len() < 5 => {
            stats.errors.push(format!("confirm failed: {e}"));
        }
        Err(_) if stats.errors.len() < 5 => {
            stats
                .errors
                .push(format!("no confirm within {CONFIRM_TIMEOUT:?}"));
        }
        _ => {}
    }
}

/// Publishes the data of message `seq` of the schedule's path, stamped now.
async fn publish_data(
    channel: &Channel,
    exchange: &ShortString,
    properties: &BasicProperties,
    schedule: &Schedule,
    seq: u64,
) -> lapin::Result<PublisherConfirm> {
    let id = format!("a{}-{seq}", schedule.path);
    let (event, start, end) = record::event(
        &id,
        schedule.path,
        seq,
        schedule.clock.now_ns(),
        schedule.event_bytes,
    );
    channel
        .basic_publish(
            exchange.clone(),
            ROUTING_KEY.into(),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            &event[start..end],
            properties.clone(),
        )
        .await
}
