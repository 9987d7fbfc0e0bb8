//! gRPC benchmarks (the `grpc` subcommand), each against its comparison measured in the same
//! run:
//!
//! - **Fan-out**: unary `Gateway/Publish` calls at a fixed rate (structured JSON CloudEvents,
//!   as the HTTP fan-out publisher posts them, sent as `to_proto` messages) → hub → N
//!   `Gateway/Subscribe` streams, [`STREAMS_PER_CHANNEL`] to an HTTP/2 connection; against the
//!   same publisher and rate delivered to N SSE subscribers (the fan-out benchmark's raw-socket
//!   client). Only the subscriber protocol differs between the two. Headline: deliveries
//!   (counted at the subscribers) per gateway CPU-second over the window, and loss (every
//!   subscriber checks per-stream sequence numbers; expected = accepted publishes × N). A fresh
//!   gateway per case; cases run in pairs alternating which protocol goes first (gRPC, SSE,
//!   SSE, gRPC, ...), and the ratio pools each protocol's rounds.
//! - **Unary round trips**: K closed-loop callers over a few HTTP/2 connections calling
//!   `Gateway/Publish` on the gateway (default routes: to the hub, no subscribers), against a
//!   bare tonic server implementing the same service (`grpc-echo`, a separate process pinned to
//!   the gateway's CPU) whose `Publish` decodes the event with `from_proto` and answers its id.
//!   Phases alternate (echo, gateway, gateway, echo, ...); figures are pooled per server.

mod echo;
mod fanout;
mod publisher;
mod subscriber;
mod unary;

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use switchyard_core::cloudevent::json;
use switchyard_core::cloudevent::protobuf::to_proto;
use switchyard_grpc::switchyard_v1::PublishRequest;
use switchyard_grpc::switchyard_v1::gateway_client::GatewayClient;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::bridge::record;
use crate::gateway::{Gateway, Launch};
use crate::subscriber::TOPIC;

pub use echo::serve as serve_echo;
pub use fanout::{FanoutCase, Subscribers, run_case as run_fanout_case};
pub use unary::{Pooled, Target, UnaryResult, run as run_unary};

/// Subscribe streams sharing one HTTP/2 connection (the gateway allows 256 at once on one).
pub const STREAMS_PER_CHANNEL: usize = 100;
/// Time allowed to open one HTTP/2 connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parameters of the whole `grpc` run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warmup: Duration,
    pub window: Duration,
    /// Fan-out publish rate, events per second, before the cap below.
    pub rate: f64,
    /// Fan-out deliveries offered per second at most: the rate is capped at this / N.
    pub max_deliveries: f64,
    /// Fan-out publisher streams (one sequence-numbered stream each).
    pub publishers: usize,
    /// SSE client source addresses to spread over.
    pub source_addrs: usize,
    pub event_bytes: usize,
    /// Unary: concurrent callers, and the HTTP/2 connections they share.
    pub callers: usize,
    pub channels: usize,
    /// gRPC/SSE case pairs per N, and echo/gateway phase pairs (the order alternates).
    pub rounds: usize,
}

impl Settings {
    /// The publish rate of a fan-out case with `n` subscribers.
    pub fn rate_for(&self, n: usize) -> f64 {
        self.rate
            .min(self.max_deliveries / n.max(1) as f64)
            .max(1.0)
    }
}

/// Opens `count` HTTP/2 connections to a `switchyard.v1.Gateway` server.
async fn connect(addr: std::net::SocketAddr, count: usize) -> Result<Vec<GatewayClient<Channel>>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .context("gRPC endpoint")?
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT);
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let channel = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect())
            .await
            .context("gRPC connect timed out")?
            .with_context(|| format!("gRPC connect to {addr}"))?;
        clients.push(GatewayClient::new(channel));
    }
    Ok(clients)
}

/// The `Publish` request of one event: the structured JSON CloudEvent of about `size` bytes
/// the bridge and fan-out publishers send (data `{"ts":<ns>,"seq":<n>,"p":<stream>,...}`),
/// decoded and turned into its protobuf message, as a client holding the event would.
fn publish_request(
    stream: usize,
    attempt: u64,
    seq: u64,
    sent_ns: u64,
    size: usize,
) -> Result<PublishRequest> {
    // The id holds the send time: no two runs publish the same (source, id).
    let id = format!("g{stream}-{attempt}-{sent_ns}");
    let (body, _, _) = record::event(&id, stream as u64, seq, sent_ns, size);
    let event = json::decode_event(&Bytes::from(body))
        .map_err(|e| anyhow!("the bench event does not decode: {e}"))?;
    Ok(PublishRequest {
        topic: TOPIC.into(),
        event: Some(to_proto(&event)),
    })
}

/// Starts a gateway with its gRPC listener on (blocking start moved off the runtime).
async fn start_gateway(launch: &Launch) -> Result<Gateway> {
    let launched = Launch {
        grpc: true,
        ..launch.clone()
    };
    tokio::task::spawn_blocking(move || Gateway::start(&launched))
        .await
        .context("gateway start task")?
}

/// Sleeps until `until`, failing as soon as the gateway exits.
async fn sleep_watching(gw: &mut Gateway, until: Instant) -> Result<()> {
    loop {
        gw.ensure_alive()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Probe;
    use prost::Message as _;

    #[test]
    fn the_protobuf_event_carries_the_probe_in_its_text_data() {
        let request = publish_request(3, 9, 7, 12_345, 256).expect("a request");
        let event = request.event.expect("an event");
        assert_eq!(event.id, "g3-9-12345");
        let bytes = event.encode_to_vec();
        assert_eq!(
            Probe::find_in_data(&bytes),
            Some(Probe {
                sent_ns: 12_345,
                seq: 7,
                stream: 3
            })
        );
    }

    #[test]
    fn large_fan_outs_are_capped_by_the_deliveries_offered() {
        let s = Settings {
            warmup: Duration::ZERO,
            window: Duration::ZERO,
            rate: 1000.0,
            max_deliveries: 200_000.0,
            publishers: 1,
            source_addrs: 1,
            event_bytes: 256,
            callers: 1,
            channels: 1,
            rounds: 1,
        };
        assert_eq!(s.rate_for(100), 1000.0);
        assert_eq!(s.rate_for(1000), 200.0);
    }
}
