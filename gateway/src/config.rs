//! The configuration file: its shape (every key documented here is the user reference, see
//! also the README), loading with environment overrides, and validation that reports every
//! error at once, each naming its key.

mod env;
mod fingerprint;
mod load;
mod queue;
mod schema;
mod suggest;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_amqp::{AmqpInboundConfig, AmqpOutboundConfig};
use switchyard_auth::AuthConfig;
use switchyard_core::hub::HubConfig;
use switchyard_core::rpc::RpcConfig;
use switchyard_grpc::{GrpcConfig, GrpcOutboundConfig};
use switchyard_http::HttpConfig;
use switchyard_http::webhook::WebhookConfig;
use switchyard_mqtt::{MqttInboundConfig, MqttOutboundConfig};
use switchyard_nats::{NatsBackplaneConfig, NatsInboundConfig, NatsOutboundConfig};
use switchyard_routes::{OneOrMany, RouteConfig};

pub use fingerprint::Fingerprints;
pub use load::{ConfigErrors, load, load_default};
pub use queue::{PairConfig, QueueConfig};
pub use schema::schema;

/// The whole file. Every section is optional.
// Not `Deserialize`: `load` reads it section by section. Its schema (`switchyard schema`) is
// derived here all the same, each section as `load` takes it: omitted or null, the defaults.
#[derive(Debug, Clone, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Config {
    /// Where the listeners bind.
    #[schemars(with = "Option<Listen>")]
    pub listen: Listen,
    /// Structured logs on standard error.
    #[schemars(with = "Option<LogConfig>")]
    pub log: LogConfig,
    /// The HTTP family: publish, SSE, WebSocket, polling, the console.
    #[schemars(with = "Option<HttpConfig>")]
    pub http: HttpConfig,
    /// Bounds of the gRPC listener (its address is `listen.grpc`).
    #[schemars(with = "Option<GrpcConfig>")]
    pub grpc: GrpcConfig,
    /// Bounds of the in-process topic space, and the optional backplane.
    #[schemars(with = "Option<HubSettings>")]
    pub hub: HubSettings,
    /// Limits applied to every event.
    #[schemars(with = "Option<Limits>")]
    pub limits: Limits,
    /// Request-reply: deadlines and the asynchronous replies' bounds.
    #[schemars(with = "Option<RpcConfig>")]
    pub rpc: RpcConfig,
    /// Who may publish and subscribe on the listeners (HTTP family, gRPC). Omitted: anyone
    /// who reaches a listener may do anything.
    pub auth: Option<AuthConfig>,
    /// The drain on SIGTERM/SIGINT.
    #[schemars(with = "Option<Shutdown>")]
    pub shutdown: Shutdown,
    /// Broker sources by name, each chosen by `type`.
    #[schemars(with = "Option<BTreeMap<String, InboundEntry>>")]
    pub inbounds: BTreeMap<String, InboundEntry>,
    /// Sinks by name, each chosen by `type`; routes name them in `to` (`hub` is built in).
    #[schemars(with = "Option<BTreeMap<String, OutboundConfig>>")]
    pub outbounds: BTreeMap<String, OutboundConfig>,
    /// Work queues by name: routes deliver to `queue:NAME`, consumers lease from
    /// `/queues/NAME`.
    #[schemars(with = "Option<BTreeMap<String, QueueConfig>>")]
    pub queues: BTreeMap<String, QueueConfig>,
    /// Exclusive pairs bound to a configured peer (an MQTT topic pair).
    #[schemars(with = "Option<BTreeMap<String, PairConfig>>")]
    pub pairs: BTreeMap<String, PairConfig>,
    /// Which events go to which sinks. Omitted: one route, every event published over HTTP
    /// or gRPC to the hub; empty (or null): no routes.
    #[schemars(with = "Option<Vec<RouteConfig>>")]
    pub routes: Vec<RouteConfig>,
    /// What each section, inbound and outbound said, for a reload to compare.
    #[schemars(skip)]
    pub fingerprints: Fingerprints,
    /// What `check` found valid but likely not meant, for `switchyard check` and the log.
    #[schemars(skip)]
    pub warnings: Vec<String>,
}

/// `listen:` where the listeners bind.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The HTTP family (publish, SSE, WebSocket, polling, console). Default `127.0.0.1:8080`;
    /// environment `SWITCHYARD_HTTP_LISTEN` overrides.
    pub http: String,
    /// Admin endpoints (`/healthz`, `/readyz`, `/metrics`) on their own listener; omitted, they
    /// are served on the HTTP listener. Environment `SWITCHYARD_ADMIN_LISTEN` overrides.
    pub admin: Option<String>,
    /// The gRPC listener (`switchyard.v1.Gateway`, `io.cloudevents.v1.CloudEventService`,
    /// health, reflection), e.g. `127.0.0.1:50051`. Omitted: no gRPC listener. Environment
    /// `SWITCHYARD_GRPC_LISTEN` overrides.
    pub grpc: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            http: "127.0.0.1:8080".into(),
            admin: None,
            grpc: None,
        }
    }
}

/// `log:` structured logs on standard error.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `info,switchyard_http=debug`. Default `info`;
    /// environment `SWITCHYARD_LOG` overrides.
    pub level: String,
    /// `text` (default) or `json` (one object per line).
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `hub:` bounds of the in-process topic space.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HubSettings {
    /// Events kept per topic for resume. Default 1 024.
    pub replay_events: usize,
    /// Bytes kept per topic for resume. Default 4 MiB.
    pub replay_bytes: usize,
    /// Events queued per subscriber; a subscriber that falls this far behind is disconnected
    /// (SSE: an `error` event, WebSocket: close 4008) and may resume from its cursor.
    /// Default 1 024.
    pub subscriber_queue: usize,
    /// Topics held at once; at the limit the least recently published 1 % are forgotten (a
    /// resume from before them gets a reset). Default 100 000.
    pub max_topics: usize,
    /// Polling consumer groups (`?group=` on a poll) whose cursors are kept; at the limit the
    /// least recently polled 1 % are forgotten and restart at the present. Default 10 000.
    pub max_poll_groups: usize,
    /// Many gateways as one: publishes into the hub go to a NATS JetStream stream, and every
    /// gateway's subscribers are fed from it, with the stream sequence as the cursor.
    /// Omitted: the embedded in-process hub.
    pub backplane: Option<BackplaneSettings>,
}

/// `hub.backplane:`, chosen by `type`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = schema::describe_type)]
pub enum BackplaneSettings {
    /// NATS JetStream (`type: nats`).
    Nats(NatsBackplaneConfig),
}

impl Default for HubSettings {
    fn default() -> Self {
        let d = HubConfig::default();
        Self {
            replay_events: d.replay_events,
            replay_bytes: d.replay_bytes,
            subscriber_queue: d.subscriber_queue,
            max_topics: d.max_topics,
            max_poll_groups: d.max_poll_groups,
            backplane: None,
        }
    }
}

impl From<&HubSettings> for HubConfig {
    fn from(s: &HubSettings) -> Self {
        HubConfig {
            replay_events: s.replay_events,
            replay_bytes: s.replay_bytes,
            subscriber_queue: s.subscriber_queue,
            max_topics: s.max_topics,
            max_poll_groups: s.max_poll_groups,
            external_cursors: s.backplane.is_some(),
        }
    }
}

/// `limits:` applied to every event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Events in delivery at once; beyond it publishers get 503 with Retry-After.
    /// Default 10 000.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 10_000,
        }
    }
}

/// `shutdown:` the drain on SIGTERM/SIGINT.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Shutdown {
    /// Time in-flight requests get to finish once draining starts, in ms. Default 10 000.
    pub grace_ms: u64,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self { grace_ms: 10_000 }
    }
}

/// `outbounds.NAME:` a sink, chosen by `type`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = schema::describe_type)]
pub enum OutboundConfig {
    /// An HTTP webhook (`type: webhook`, or `type: http`).
    #[serde(alias = "http")]
    #[schemars(transform = schema::type_also_named("http"))]
    Webhook(WebhookConfig),
    /// MQTT publishes confirmed by PUBACK/PUBCOMP (`type: mqtt`).
    Mqtt(MqttOutboundConfig),
    /// AMQP 0-9-1 publishes with publisher confirms (`type: amqp`).
    Amqp(AmqpOutboundConfig),
    /// NATS publishes, core or JetStream confirmed by the PubAck (`type: nats`).
    Nats(NatsOutboundConfig),
    /// Calls of a gRPC backend's `Publish` (`type: grpc`).
    Grpc(GrpcOutboundConfig),
}

/// `inbounds.NAME:` a broker source, chosen by `type`, plus what it shares with every inbound.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(transform = schema::shared_keys_in_every_type)]
pub struct InboundEntry {
    /// The type's own keys, `type` included.
    #[schemars(flatten)]
    pub kind: InboundConfig,
    /// Sink for messages that can never be delivered (undecodable, no route, refused for good),
    /// with the reason in extension `deadletterreason`. Omitted: MQTT acks and logs them (MQTT
    /// has no reject); AMQP rejects them without requeue, to the queue's dead-letter exchange.
    pub dead_letter: Option<String>,
}

/// The protocol part of an inbound.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schemars(transform = schema::describe_type)]
pub enum InboundConfig {
    /// An MQTT 5 or 3.1.1 subscription (`type: mqtt`).
    Mqtt(MqttInboundConfig),
    /// An AMQP 0-9-1 queue consumer (`type: amqp`).
    Amqp(AmqpInboundConfig),
    /// Core NATS subjects or a durable JetStream consumer (`type: nats`).
    Nats(NatsInboundConfig),
}

/// The route used when the file has no `routes:`: everything published over HTTP goes to
/// the hub, on the topic it was published to.
pub fn default_routes() -> Vec<RouteConfig> {
    vec![RouteConfig {
        name: "publish-to-hub".into(),
        from: OneOrMany(vec![
            crate::app::HTTP_INBOUND.into(),
            crate::app::GRPC_INBOUND.into(),
        ]),
        topics: OneOrMany::default(),
        filter: None,
        to: OneOrMany(vec![crate::app::HUB_SINK.into()]),
        topic: None,
        confirm: true,
        retry: Default::default(),
        timeout_ms: None,
        dead_letter: None,
        dedupe: None,
        rate_limit: None,
    }]
}
