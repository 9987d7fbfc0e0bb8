//! Settings of the HTTP family (the `http:` section of the configuration file).

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::cloudevent::http::PercentDecoding;

/// The `http:` section. Every field has a default; sizes are bytes, times are as named.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted by `POST /topics/..`, in bytes (413 above). Default 1 MiB.
    pub body_limit: usize,
    /// Time a client has to send a request's headers, in milliseconds (slowloris guard;
    /// also closes idle keep-alive connections). Default 10 000.
    pub header_read_timeout_ms: u64,
    /// Longest gap between two reads of a request body, in milliseconds; a body that stops
    /// part-way (or never follows `Expect: 100-continue`) is answered 408 and its connection
    /// closed. Default 60 000 (nginx's `client_body_timeout`).
    pub body_read_timeout_ms: u64,
    /// Connections held at once, WebSockets included (they keep their slot after the
    /// upgrade); further connections are closed at accept. Default 19 000 (this machine allows
    /// a process 20 000 file descriptors).
    pub max_connections: usize,
    /// Interval of SSE keep-alive comments, in milliseconds. Default 15 000.
    pub sse_keepalive_ms: u64,
    /// The `retry:` reconnection delay advertised to EventSource clients, in ms. Default 2 000.
    pub sse_retry_ms: u64,
    /// Largest WebSocket message accepted, in bytes (close 1009 above). Default 1 MiB.
    pub ws_max_message: usize,
    /// Interval of server pings on WebSockets, in ms; a client silent for two intervals is
    /// disconnected. Default 30 000.
    pub ws_ping_interval_ms: u64,
    /// Longest `wait` a long poll may ask for, in seconds (longer waits are shortened).
    /// Default 60.
    pub poll_max_wait_s: u64,
    /// Most events one poll returns (`limit` is capped to it). Default 1 000.
    pub poll_max_events: usize,
    /// `strict` (default): a `ce-` header value with a `%` that does not start a `%XY` escape
    /// is a 400, as the HTTP binding requires. `lenient`: such a `%` is kept literally, for
    /// SDKs that do not percent-encode (sdk-go, sdk-java, the Python SDK).
    pub header_decoding: PercentDecoding,
    /// HTTPS and WSS on this listener. Omitted: plain HTTP.
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1 << 20,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            max_connections: 19_000,
            sse_keepalive_ms: 15_000,
            sse_retry_ms: 2_000,
            ws_max_message: 1 << 20,
            ws_ping_interval_ms: 30_000,
            poll_max_wait_s: 60,
            poll_max_events: 1_000,
            header_decoding: PercentDecoding::Strict,
            tls: None,
        }
    }
}
