//! What inbound tests publish: raw AMQP messages in each layout, and inbound configs that
//! declare their own temporary exchange and queue.

use std::collections::HashMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde_json::json;

use switchyard_amqp::AmqpInboundConfig;
use switchyard_core::event::Event;

use crate::support::{QUEUE_EXPIRES_MS, URL};

/// An inbound that declares a temporary topic exchange, its queue (with `queue` settings
/// added) and a `#` binding.
pub fn config(queue: &str, exchange: &str, queue_settings: serde_json::Value) -> AmqpInboundConfig {
    let mut settings = json!({"durable": false, "expires_ms": QUEUE_EXPIRES_MS});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), queue_settings.as_object()) {
        settings.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "url": URL,
        "queue": queue,
        "requeue_delay_ms": 20,
        "topology": {
            "exchange": {"name": exchange, "durable": false, "auto_delete": true},
            "queue": settings,
            "bindings": [{"routing_key": "#"}],
        },
    }))
    .expect("valid inbound config")
}

/// A header table from name-value pairs.
pub fn headers(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in entries {
        table.insert((*name).into(), value.clone());
    }
    table
}

/// A string header value, as most clients send them.
pub fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn binary_headers(prefix: &str, id: &str) -> Vec<(String, AMQPValue)> {
    [
        ("specversion", "1.0"),
        ("id", id),
        ("source", "/tests"),
        ("type", "test.binary"),
    ]
    .into_iter()
    .map(|(name, value)| (format!("{prefix}{name}"), text(value)))
    .collect()
}

/// A binary-mode message with the required attributes under `prefix`, plus `extra` ones.
pub fn binary(prefix: &str, id: &str, extra: &[(&str, AMQPValue)]) -> BasicProperties {
    let mut entries = binary_headers(prefix, id);
    entries.extend(
        extra
            .iter()
            .map(|(n, v)| (format!("{prefix}{n}"), v.clone())),
    );
    let borrowed: Vec<(&str, AMQPValue)> = entries
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    BasicProperties::default().with_headers(headers(&borrowed))
}

/// A structured-mode message (the body is the whole event).
pub fn structured() -> BasicProperties {
    BasicProperties::default().with_content_type("application/cloudevents+json".into())
}

/// Events by id: tests deliver concurrently, so order is not guaranteed.
pub fn by_id(events: Vec<Event>) -> HashMap<String, Event> {
    events
        .into_iter()
        .map(|e| (e.cloud.id.clone(), e))
        .collect()
}
