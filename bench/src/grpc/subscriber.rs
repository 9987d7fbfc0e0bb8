//! The gRPC subscribers: `Gateway/Subscribe` streams (live events only), many to one HTTP/2
//! connection, each recording what it receives exactly as the SSE and WebSocket subscribers
//! do (`crate::subscriber`'s recorder: per-stream sequence numbers, latency from the send
//! timestamp). The probe is read from the encoded CloudEvent as it arrives, whose JSON data
//! travels verbatim as `text_data`: the client does the framing and the `SubscribeResponse`
//! decode (its `event` stays bytes), not a full CloudEvent decode per delivery.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use switchyard_grpc::switchyard_v1::SubscribeRequest;
use switchyard_grpc::switchyard_v1::gateway_client::GatewayClient;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::subscriber::{Probe, Recorder, Shared, SubStats, TOPIC};

/// Subscribe calls awaiting their response headers at once.
const SUBSCRIBING_AT_ONCE: usize = 128;

/// Starts `n` subscribers, subscriber `i` on connection `i / per_channel` of `clients`.
pub fn spawn(
    clients: &[GatewayClient<Channel>],
    per_channel: usize,
    n: usize,
    streams: usize,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> JoinSet<SubStats> {
    let permits = Arc::new(Semaphore::new(SUBSCRIBING_AT_ONCE));
    let mut subscribers = JoinSet::new();
    for index in 0..n {
        let Some(client) = clients.get(index / per_channel.max(1)).cloned() else {
            break;
        };
        let recorder = Recorder::new(shared.clone(), index, streams);
        let (permits, stop) = (permits.clone(), stop.clone());
        subscribers.spawn(async move {
            receive(client, recorder, &permits, stop)
                .await
                .unwrap_or_else(|e| SubStats {
                    connect_error: Some(format!("{e:#}")),
                    ..SubStats::default()
                })
        });
    }
    subscribers
}

/// Subscribes (holding a permit meanwhile), then receives until `stop` or the stream's end.
async fn receive(
    mut client: GatewayClient<Channel>,
    mut recorder: Recorder,
    subscribing: &Semaphore,
    mut stop: watch::Receiver<bool>,
) -> Result<SubStats> {
    let mut feed = {
        let _permit = subscribing.acquire().await?;
        let request = SubscribeRequest {
            filter: TOPIC.into(),
            since: None,
            group: String::new(),
        };
        client
            .subscribe(request)
            .await
            .context("Subscribe")?
            .into_inner()
    };
    recorder.shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut closed = None;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            next = feed.message() => next,
        };
        match next {
            Ok(Some(response)) => recorder.on_probe(Probe::find_in_data(&response.event)),
            Ok(None) => {
                closed = Some("end of stream".into());
                break;
            }
            Err(status) => {
                closed = Some(format!("{:?}: {}", status.code(), status.message()));
                break;
            }
        }
    }
    // Dropping the stream resets it (RST_STREAM CANCEL); the connection stays for the others.
    drop(feed);
    let mut stats = recorder.finish(0);
    stats.closed = closed;
    Ok(stats)
}
