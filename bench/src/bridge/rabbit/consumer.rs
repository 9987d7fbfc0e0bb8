//! The consumer of the latency paths: every body of the benchmark queue to a recorder.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use futures_util::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use tokio::sync::watch;

use super::{ADMIN_TIMEOUT, bounded, connect};
use crate::bridge::record::Recorder;

/// Consumes `queue` (auto-ack) on its own connection, handing every body to `recorder`, until
/// `stop` turns true. Returns once the consumer is registered.
pub async fn consume(
    url: &str,
    queue: &str,
    recorder: Arc<Mutex<Recorder>>,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let connection = connect(url).await?;
    let channel = bounded("open a channel", connection.create_channel()).await?;
    let options = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = bounded(
        "basic.consume",
        channel.basic_consume(queue.into(), "".into(), options, FieldTable::default()),
    )
    .await?;
    let tag = consumer.tag();
    Ok(tokio::spawn(async move {
        let result = loop {
            tokio::select! {
                _ = stop.wait_for(|&s| s) => break Ok(()),
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => recorder
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .on_message(&delivery.data),
                    Some(Err(e)) => break Err(anyhow::anyhow!("consumer failed: {e}")),
                    None => break Err(anyhow::anyhow!("the broker ended the consumer")),
                },
            }
        };
        let _ = tokio::time::timeout(
            ADMIN_TIMEOUT,
            channel.basic_cancel(tag, BasicCancelOptions::default()),
        )
        .await;
        let _ =
            tokio::time::timeout(ADMIN_TIMEOUT, connection.close(200, "bench done".into())).await;
        result
    }))
}
