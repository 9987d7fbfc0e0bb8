//! The command line: the subcommands and the options every one of them accepts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::subscriber::Kind;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-bench",
    about = "Benchmarks the switchyard gateway: fan-out, idle memory, codec, broker bridges"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every benchmark, then the summary.
    All,
    /// Publish → hub → N subscribers, SSE and WebSocket.
    Fanout,
    /// Gateway memory per idle connection.
    Idle,
    /// CloudEvents JSON decode+encode against plain serde_json.
    Codec,
    /// HTTP → AMQP with confirms vs bare lapin; MQTT → gateway → AMQP latency vs direct paths.
    Bridge,
    /// Publishes with JWT verification (HS256, RS256) against none, each on a fresh gateway.
    Auth,
    /// Request-reply round trips: HTTP → AMQP → HTTP vs a direct lapin RPC client, and
    /// HTTP → MQTT 5 → HTTP vs a direct rumqttc requester; then work-queue throughput from
    /// RabbitMQ vs a bare lapin consumer with the same prefetch.
    Rpc,
    /// HTTP → NATS JetStream (200 after the PubAck) vs a bare async-nats publisher.
    Nats,
    /// gRPC: Publish → hub → N Subscribe streams vs N SSE subscribers (deliveries per gateway
    /// CPU-second), and unary Publish calls/s on the gateway vs a bare tonic echo server.
    Grpc,
    /// The bare `switchyard.v1.Gateway` echo server the `grpc` benchmark compares against:
    /// serves on 127.0.0.1:0, prints its address, exits when stdin closes.
    #[command(hide = true)]
    GrpcEcho,
}

/// `--n` when it is not given: fan-out's counts, and the gRPC benchmark's.
pub const FANOUT_N: [usize; 3] = [100, 1000, 10_000];
pub const GRPC_N: [usize; 2] = [100, 1000];

#[derive(Debug, Args)]
pub struct Options {
    /// Subscriber counts for fan-out [default: 100,1000,10000; grpc: 100,1000].
    #[arg(long = "n", global = true, value_delimiter = ',')]
    pub n: Vec<usize>,
    /// Subscription kinds for fan-out and idle.
    #[arg(long, global = true, value_delimiter = ',', value_enum, default_values_t = [Kind::Sse, Kind::Ws])]
    pub kinds: Vec<Kind>,
    /// Fan-out measurement window, seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub window: f64,
    /// Fan-out warm-up before the window, seconds.
    #[arg(long, global = true, default_value_t = 1.0)]
    pub warmup: f64,
    /// Deliveries offered per second at full load; the publish rate is this divided by N.
    #[arg(long, global = true, default_value_t = 200_000.0)]
    pub deliveries_per_sec: f64,
    /// Load levels, as fractions of --deliveries-per-sec (each is a separate case).
    #[arg(long, global = true, value_delimiter = ',', default_values_t = [1.0, 0.25])]
    pub loads: Vec<f64>,
    /// Highest publish rate, events per second.
    #[arg(long, global = true, default_value_t = 5_000.0)]
    pub max_rate: f64,
    /// Publisher connections (one sequence-numbered stream each).
    #[arg(long, global = true, default_value_t = 16)]
    pub publishers: usize,
    /// Size of each published event in the JSON format, bytes.
    #[arg(long, global = true, default_value_t = 256)]
    pub event_bytes: usize,
    /// Client source addresses to spread over (127.0.0.2 onwards).
    #[arg(long, global = true, default_value_t = 32)]
    pub source_addrs: usize,
    /// Idle connection counts to measure memory at.
    #[arg(long, global = true, value_delimiter = ',', default_values_t = [1000, 5000, 10000])]
    pub idle_steps: Vec<usize>,
    /// Codec iterations per variant and event (at least 200k for stable figures).
    #[arg(long, global = true, default_value_t = 200_000)]
    pub codec_iters: usize,
    /// Bridge: publishes awaiting their confirm at once; also the HTTP connections posting
    /// to the gateway.
    #[arg(long, global = true, default_value_t = 64)]
    pub confirm_window: usize,
    /// Bridge: bare-lapin/gateway phase pairs for confirmed throughput (order alternates).
    #[arg(long, global = true, default_value_t = 2)]
    pub bridge_rounds: usize,
    /// Bridge: open-loop rate of the latency paths, messages per second.
    #[arg(long, global = true, default_value_t = 1000.0)]
    pub bridge_rate: f64,
    /// Bridge: the RabbitMQ broker.
    #[arg(
        long,
        global = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
    /// Bridge: the MQTT broker.
    #[arg(long, global = true, default_value = "mqtt://127.0.0.1:1883")]
    pub mqtt_url: String,
    /// Nats: the NATS server (JetStream on).
    #[arg(long, global = true, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Grpc: publish rate of the fan-out cases, events per second (at most
    /// --deliveries-per-sec / N, so large N stay within what one harness core can receive).
    #[arg(long, global = true, default_value_t = 1000.0)]
    pub grpc_rate: f64,
    /// Grpc: concurrent unary Publish callers (closed loop).
    #[arg(long, global = true, default_value_t = 32)]
    pub grpc_callers: usize,
    /// Grpc: HTTP/2 connections the unary callers share.
    #[arg(long, global = true, default_value_t = 4)]
    pub grpc_channels: usize,
    /// Grpc: gRPC/SSE case pairs per N, and echo/gateway phase pairs of the unary benchmark
    /// (the order alternates; figures are pooled).
    #[arg(long, global = true, default_value_t = 2)]
    pub grpc_rounds: usize,
    /// Do not pin the gateway and the harness to separate CPUs.
    #[arg(long, global = true)]
    pub no_pin: bool,
    /// The gateway binary (default: `switchyard` next to this executable).
    #[arg(long, global = true, env = "SWITCHYARD_BIN")]
    pub gateway: Option<PathBuf>,
    /// A gateway configuration file (e.g. `hub: { subscriber_queue: N }`); the listen address
    /// is always overridden.
    #[arg(long, global = true)]
    pub gateway_config: Option<PathBuf>,
    /// Whole-run limit in seconds; the watchdog kills the gateway and exits after it.
    #[arg(long, global = true, default_value_t = 540)]
    pub time_limit: u64,
}

impl Options {
    /// The subscriber counts: `--n`, else `default`.
    pub fn n_or(&self, default: &[usize]) -> Vec<usize> {
        if self.n.is_empty() {
            default.to_vec()
        } else {
            self.n.clone()
        }
    }
}
