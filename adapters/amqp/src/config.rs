//! Settings of AMQP 0-9-1 inbounds (`inbounds.NAME` with `type: amqp`) and outbounds
//! (`outbounds.NAME` with `type: amqp`), as the user writes them, and their validation.
//!
//! The doc comment on every field is the user reference. Validation reports every error at
//! once, each naming its key (`outbounds.audit.routing_key: ...`), so a bad config can be fixed
//! in one pass.

use schemars::JsonSchema;
use serde::Deserialize;
use switchyard_core::secret::Secret;

mod validate;

/// An inbound consuming one queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpInboundConfig {
    /// Broker URI: `amqp://user:password@host:5672/%2f` (the vhost is percent-encoded, so `%2f`
    /// is `/`); `amqps://` for TLS. Query parameters such as `?heartbeat=10` are passed on.
    /// Redacted in logs: it carries the password.
    pub url: Secret,
    /// The queue to consume. It must exist unless `topology` declares it.
    pub queue: String,
    /// Messages the broker hands over before we acknowledge any (`basic.qos`). It is also the
    /// bound on events of this inbound in the pipeline at once. Default 64.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Consumer tag shown in the broker's management UI. Default: one chosen by the broker.
    #[serde(default)]
    pub consumer_tag: Option<String>,
    /// Exchange, queue and bindings declared (idempotently) after every (re)connect. Without
    /// it nothing is declared and the queue must already exist.
    #[serde(default)]
    pub topology: Option<TopologyConfig>,
    /// How long a message whose delivery failed in a way that may heal (a sink down, a
    /// timeout) is held before it is handed back to the broker (`basic.nack` with requeue),
    /// in milliseconds. Longer delays a sink asks for are honoured up to 60 s. Default 1 000.
    #[serde(default = "default_requeue_delay_ms")]
    pub requeue_delay_ms: u64,
    /// On shutdown, how long deliveries already under way may take to finish (and be
    /// settled) before the inbound closes its connection, in milliseconds. Messages not
    /// settled by then stay with the broker, which redelivers them. Default 5 000.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// How a message that is not a CloudEvent is wrapped into a new one.
    #[serde(default)]
    pub wrap: WrapConfig,
}

/// Attributes of the event made for a message that is not a CloudEvent (neither
/// `application/cloudevents*` nor `cloudEvents_`/`cloudEvents:` headers). Templates may use
/// `{inbound}`, `{queue}`, `{exchange}` and `{routing_key}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(rename = "AmqpWrapConfig")]
pub struct WrapConfig {
    /// Template for `source`. Default `/amqp/{queue}`.
    pub source: String,
    /// Template for `type`. Default `dev.switchyard.amqp.message`.
    #[serde(rename = "type")]
    pub ty: String,
}

/// What to declare after connecting. Declarations are idempotent: an existing exchange or
/// queue with the same settings is left alone; one with different settings is an error the
/// broker reports (`PRECONDITION_FAILED`), which we log and retry with backoff.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    /// An exchange to declare, typically the one the queue is bound to.
    #[serde(default)]
    pub exchange: Option<ExchangeConfig>,
    /// How the inbound's queue is declared.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Bindings of the inbound's queue to exchanges.
    #[serde(default)]
    pub bindings: Vec<BindingConfig>,
}

/// An exchange declaration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Exchange name; not empty and not starting with `amq.` (reserved by the broker).
    pub name: String,
    /// `topic` (default), `direct`, `fanout` or `headers`.
    #[serde(default)]
    pub kind: ExchangeKind,
    /// Survives a broker restart. Default true.
    #[serde(default = "default_true")]
    pub durable: bool,
    /// Deleted by the broker when its last binding is removed. Default false.
    #[serde(default)]
    pub auto_delete: bool,
}

/// The exchange types RabbitMQ ships with.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// Routing keys matched against binding patterns (`*` one word, `#` any).
    #[default]
    Topic,
    /// Routing keys equal to the binding key.
    Direct,
    /// Every bound queue, whatever the routing key.
    Fanout,
    /// Matched on message headers instead of the routing key.
    Headers,
}

/// How the inbound's queue is declared.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Survives a broker restart (with persistent messages, so do they). Default true.
    pub durable: bool,
    /// Deleted by the broker when its last consumer goes away. Default false.
    pub auto_delete: bool,
    /// `x-dead-letter-exchange`: where the broker sends messages we reject (failures that will
    /// not heal, when no dead-letter sink is configured) and expired or overflowing ones.
    pub dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key`: routing key of dead-lettered messages. Default: theirs.
    pub dead_letter_routing_key: Option<String>,
    /// `x-max-length`: ready messages kept at most; the oldest are dropped or dead-lettered.
    pub max_length: Option<u32>,
    /// `x-message-ttl`: milliseconds a message may wait in the queue.
    pub message_ttl_ms: Option<u32>,
    /// `x-expires`: milliseconds the queue may go unused (no consumer, no declaration) before
    /// the broker deletes it, messages and all. For temporary queues.
    pub expires_ms: Option<u32>,
    /// `x-queue-type`: `classic` or `quorum` (replicated; must be durable). Default: the
    /// broker's default (classic).
    pub queue_type: Option<QueueType>,
}

/// RabbitMQ queue types.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// A single-node queue.
    Classic,
    /// A replicated (Raft) queue; must be durable.
    Quorum,
}

/// A binding of the inbound's queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingConfig {
    /// Exchange to bind to. Default: the exchange declared in `topology.exchange`.
    #[serde(default)]
    pub exchange: Option<String>,
    /// Binding key; on a topic exchange `*` matches one word and `#` zero or more. Default "".
    #[serde(default)]
    pub routing_key: String,
}

/// An outbound publishing to an exchange with publisher confirms.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpOutboundConfig {
    /// Broker URI, as for inbounds (redacted in logs).
    pub url: Secret,
    /// Exchange to publish to; `""` is the default exchange, which routes to the queue named
    /// by the routing key.
    pub exchange: String,
    /// Routing key template: `{topic}` is the event's topic, any other `{name}` an attribute.
    /// Every `/` of the result becomes `.` (AMQP's word separator), so topic `orders/created`
    /// is published as `orders.created`. Events whose key would be longer than 255 bytes or
    /// contain `*` or `#` are refused. Default `{topic}`.
    #[serde(default = "default_routing_key")]
    pub routing_key: String,
    /// `binary` (attributes in headers, data as the body; default) or `structured` (the whole
    /// event as `application/cloudevents+json`).
    #[serde(default)]
    pub mode: AmqpMode,
    /// Prefix of attribute headers in binary mode: `cloudEvents_` (default; usable in JMS
    /// selectors) or `cloudEvents:` (the AMQP 1.0 binding's original form). Inbounds accept both.
    #[serde(default)]
    pub header_prefix: HeaderPrefix,
    /// Publish with delivery mode 2, so durable queues keep messages across broker restarts.
    /// Default true.
    #[serde(default = "default_true")]
    pub persistent: bool,
    /// Publish `mandatory`: a message no queue is bound for comes back and the event is
    /// refused, instead of being dropped silently by the broker. Default true.
    #[serde(default = "default_true")]
    pub mandatory: bool,
    /// How long to wait for the broker's confirm of one publish, in milliseconds. Default
    /// 10 000.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Declare `exchange` after every (re)connect; its `name` must equal `exchange`.
    #[serde(default)]
    pub declare: Option<ExchangeConfig>,
    /// Where services answer requests (`POST /rpc`) routed here: published as the message's
    /// `reply_to`, with a fresh `correlation_id` per attempt. Default `amq.rabbitmq.reply-to`
    /// (RabbitMQ's direct reply-to: no queue at all); any other name is declared exclusive and
    /// auto-delete on each connection, one per gateway.
    #[serde(default = "default_reply_to")]
    pub reply_to: String,
    /// Requests waiting for their replies at once; beyond it a request is refused (503).
    /// Default 10 000.
    #[serde(default = "default_max_pending_replies")]
    pub max_pending_replies: usize,
}

/// How outbound events are laid out in AMQP messages.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AmqpMode {
    /// Attributes in headers, data as the body.
    #[default]
    Binary,
    /// The whole event as `application/cloudevents+json`.
    Structured,
}

/// The attribute header prefix in binary mode.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum HeaderPrefix {
    /// `cloudEvents_`: usable in JMS selectors.
    #[default]
    #[serde(rename = "cloudEvents_")]
    Underscore,
    /// `cloudEvents:`: the AMQP 1.0 binding's original form.
    #[serde(rename = "cloudEvents:")]
    Colon,
}

impl HeaderPrefix {
    /// The prefix as written in header names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Underscore => "cloudEvents_",
            Self::Colon => "cloudEvents:",
        }
    }
}

impl Default for WrapConfig {
    fn default() -> Self {
        Self {
            source: "/amqp/{queue}".into(),
            ty: "dev.switchyard.amqp.message".into(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            durable: true,
            auto_delete: false,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            max_length: None,
            message_ttl_ms: None,
            expires_ms: None,
            queue_type: None,
        }
    }
}

const fn default_prefetch() -> u16 {
    64
}

const fn default_requeue_delay_ms() -> u64 {
    1_000
}

const fn default_shutdown_grace_ms() -> u64 {
    5_000
}

const fn default_confirm_timeout_ms() -> u64 {
    10_000
}

fn default_reply_to() -> String {
    crate::outbound::DIRECT_REPLY_TO.into()
}

const fn default_max_pending_replies() -> usize {
    10_000
}

const fn default_true() -> bool {
    true
}

fn default_routing_key() -> String {
    "{topic}".into()
}
