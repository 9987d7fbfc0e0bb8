//! RabbitMQ with lapin: the benchmark's own exchange and queue (unique names, deleted at the
//! end), the bare publisher with a fixed confirm window (the S1 baseline), an open-loop
//! publisher and a consumer for the latency paths.

mod confirm_window;
mod consumer;
mod open_loop;
mod topology;

use std::time::Duration;

use anyhow::{Context, Result};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};

pub use confirm_window::{LoadStats, confirm_window_load};
pub use consumer::consume;
pub use open_loop::{OpenLoopStats, open_loop_publish};
pub use topology::{Sample, Topology};

/// Time allowed for connecting and for each administrative request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one publish to be confirmed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// The benchmark queue deletes itself this long after its last use if a run dies before
/// cleaning up; its exchange is auto-delete, so it goes with the queue's binding.
const QUEUE_EXPIRES_MS: i64 = 600_000;
/// The routing key of every message and of the queue's binding.
pub const ROUTING_KEY: &str = "k";

/// Connects, bounded by [`ADMIN_TIMEOUT`].
pub async fn connect(url: &str) -> Result<Connection> {
    let connecting = Connection::connect(url, ConnectionProperties::default());
    tokio::time::timeout(ADMIN_TIMEOUT, connecting)
        .await
        .with_context(|| format!("RabbitMQ at {url} did not answer within {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("cannot connect to RabbitMQ at {url}"))
}

/// A channel in confirm mode.
pub async fn confirm_channel(connection: &Connection) -> Result<Channel> {
    let channel = bounded("open a channel", connection.create_channel()).await?;
    bounded(
        "confirm.select",
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;
    Ok(channel)
}

async fn bounded<T, E>(what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(ADMIN_TIMEOUT, fut)
        .await
        .with_context(|| format!("{what} timed out after {ADMIN_TIMEOUT:?}"))?
        .with_context(|| format!("{what} failed"))
}
