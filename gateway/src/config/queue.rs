//! `queues:` work queues by name. Each is in memory (the default: bounded, and lost on a
//! crash) or backed by a RabbitMQ queue (`amqp:`), which holds every message until a consumer
//! acks it. And `pairs:`, the exclusive pairs bound to a configured peer.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use switchyard_amqp::AmqpQueueConfig;
use switchyard_core::queue::QueueLimits;
use switchyard_mqtt::MqttPairConfig;

/// One work queue. Producers reach it through routes (`to: queue:NAME`); consumers lease from
/// `GET /queues/NAME` (or a WebSocket on the same path).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// In memory: messages held at once (ready and on lease); a publish beyond it is refused
    /// with 503. Default 10 000.
    pub capacity: usize,
    /// A lease's length when the consumer names none (`lease_ms`), in ms. Default 30 000.
    pub lease_ms: u64,
    /// The longest lease a consumer may ask for, in ms. Default 600 000.
    pub max_lease_ms: u64,
    /// The most messages one lease (`max`) or a WebSocket's credit may take. Default 100.
    pub max_batch: usize,
    /// Backed by this RabbitMQ queue instead of memory.
    pub amqp: Option<AmqpQueueConfig>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            lease_ms: 30_000,
            max_lease_ms: 600_000,
            max_batch: 100,
            amqp: None,
        }
    }
}

impl QueueConfig {
    /// Every problem, each naming its key under `queues.NAME`.
    pub fn validate(&self, name: &str) -> Vec<String> {
        let path = format!("queues.{name}");
        let mut errors = Vec::new();
        for (key, zero) in [
            ("capacity", self.capacity == 0),
            ("lease_ms", self.lease_ms == 0),
            ("max_lease_ms", self.max_lease_ms == 0),
            ("max_batch", self.max_batch == 0),
        ] {
            if zero {
                errors.push(format!("{path}.{key}: must be at least 1"));
            }
        }
        if self.lease_ms > self.max_lease_ms {
            errors.push(format!("{path}.lease_ms: must not exceed max_lease_ms"));
        }
        if name.is_empty() || name.contains(['/', '+', '#']) {
            errors.push(format!(
                "{path}: a queue name is one topic level, without wildcards"
            ));
        }
        if let Some(amqp) = &self.amqp {
            errors.extend(amqp.validate(&format!("{path}.amqp")));
        }
        errors
    }

    pub fn limits(&self) -> QueueLimits {
        QueueLimits {
            capacity: self.capacity,
            default_lease: Duration::from_millis(self.lease_ms),
            max_lease: Duration::from_millis(self.max_lease_ms),
            max_batch: self.max_batch,
        }
    }
}

/// `pairs.NAME`: an exclusive pair whose other peer is configured (`/pair/NAME` joins a
/// WebSocket to it). Pairs of two WebSockets need no entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// A device on MQTT, as a topic pair.
    pub mqtt: MqttPairConfig,
}
