//! The work queues a config names: each in memory or backed by RabbitMQ, with the sink routes
//! deliver to (`queue:NAME`). Queues hold messages, so a reload keeps them as they are. And the
//! pairs bound to a configured peer.

use std::collections::HashMap;
use std::sync::Arc;

use tower::util::BoxCloneSyncService;

use switchyard_core::health::Readiness;
use switchyard_core::pair::BoundPeer;
use switchyard_core::pipeline::Sink;
use switchyard_core::queue::{QueueSink, WorkQueue, sink_name};
use switchyard_http::Pairs;
use switchyard_http::queues::Queues;

use crate::config::{Config, QueueConfig};

/// The work queues' sinks, by sink name (`queue:NAME`).
type QueueSinks = Vec<(String, Sink)>;

/// Starts every queue (inside the runtime); the queues by name, and their sinks.
pub(super) fn start(
    config: &Config,
    readiness: &Readiness,
) -> Result<(Queues, QueueSinks), Vec<String>> {
    let mut queues = HashMap::new();
    let mut sinks = Vec::new();
    let mut errors = Vec::new();
    for (name, queue) in &config.queues {
        match start_one(name, queue, readiness) {
            Ok((queue, sink)) => {
                sinks.push((sink_name(name), sink));
                queues.insert(name.clone(), queue);
            }
            Err(es) => errors.extend(es.into_iter().map(|e| format!("queues.{name}.amqp.{e}"))),
        }
    }
    if errors.is_empty() {
        Ok((Arc::new(queues), sinks))
    } else {
        Err(errors)
    }
}

fn start_one(
    name: &str,
    config: &QueueConfig,
    readiness: &Readiness,
) -> Result<(WorkQueue, Sink), Vec<String>> {
    let Some(amqp) = &config.amqp else {
        let queue = WorkQueue::new(name, config.limits());
        let sink = BoxCloneSyncService::new(QueueSink::new(queue.clone()));
        return Ok((queue, sink));
    };
    let checks = (
        readiness.register(&format!("queue:{name}")),
        readiness.register(&format!("queue:{name}:producer")),
    );
    let (queue, producer) = switchyard_amqp::queue::start(name, amqp, config.limits(), checks)?;
    Ok((queue, BoxCloneSyncService::new(producer)))
}

/// The pairs, with those bound to an MQTT topic pair connected (inside the runtime); each has
/// its `/readyz` check `pair:NAME`.
pub(super) fn pairs(config: &Config, readiness: &Readiness) -> Result<Pairs, Vec<String>> {
    let mut bound: HashMap<String, Arc<dyn BoundPeer>> = HashMap::new();
    for (name, pair) in &config.pairs {
        let ready = readiness.register(&format!("pair:{name}"));
        let peer = switchyard_mqtt::pair::MqttPeer::start(name, &pair.mqtt, ready)?;
        bound.insert(name.clone(), Arc::new(peer));
    }
    Ok(Pairs::with_bound(bound))
}
