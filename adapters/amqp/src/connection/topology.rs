//! Declaring exchanges, queues and bindings. Called after every (re)connect: a broker that
//! restarted without persistence, or an auto-deleted queue, is recreated before we consume
//! or publish. All declarations are idempotent; a queue or exchange that exists with other
//! settings makes the broker answer `PRECONDITION_FAILED`, which is reported with the name.

use lapin::Channel;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::config::{ExchangeConfig, ExchangeKind, QueueConfig, QueueType, TopologyConfig};
use crate::error::{SetupError, short_string};

/// Declares the exchange, the queue `queue` and its bindings described by `topology`.
pub(crate) async fn declare(
    channel: &Channel,
    queue: &str,
    topology: &TopologyConfig,
) -> Result<(), SetupError> {
    if let Some(exchange) = &topology.exchange {
        declare_exchange(channel, exchange).await?;
    }
    declare_queue(channel, queue, &topology.queue).await?;
    for binding in &topology.bindings {
        let exchange = binding
            .exchange
            .as_deref()
            .or(topology.exchange.as_ref().map(|e| e.name.as_str()))
            .unwrap_or_default();
        channel
            .queue_bind(
                short_string("queue", queue)?,
                short_string("exchange", exchange)?,
                short_string("routing key", &binding.routing_key)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(SetupError::at(format!(
                "binding queue `{queue}` to exchange `{exchange}` with key `{}`",
                binding.routing_key
            )))?;
    }
    Ok(())
}

/// Declares one exchange.
pub(crate) async fn declare_exchange(
    channel: &Channel,
    exchange: &ExchangeConfig,
) -> Result<(), SetupError> {
    let kind = match exchange.kind {
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        ExchangeKind::Headers => lapin::ExchangeKind::Headers,
    };
    let options = ExchangeDeclareOptions {
        durable: exchange.durable,
        auto_delete: exchange.auto_delete,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            short_string("exchange", &exchange.name)?,
            kind,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(SetupError::at(format!(
            "declaring exchange `{}`",
            exchange.name
        )))
}

pub(crate) async fn declare_queue(
    channel: &Channel,
    queue: &str,
    config: &QueueConfig,
) -> Result<(), SetupError> {
    let options = QueueDeclareOptions {
        durable: config.durable,
        auto_delete: config.auto_delete,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(
            short_string("queue", queue)?,
            options,
            queue_arguments(config),
        )
        .await
        .map_err(SetupError::at(format!("declaring queue `{queue}`")))?;
    Ok(())
}

/// The `x-` arguments for the queue's optional features.
fn queue_arguments(config: &QueueConfig) -> FieldTable {
    let mut arguments = FieldTable::default();
    let text = |value: &str| AMQPValue::LongString(LongString::from(value));
    if let Some(exchange) = &config.dead_letter_exchange {
        arguments.insert("x-dead-letter-exchange".into(), text(exchange));
    }
    if let Some(key) = &config.dead_letter_routing_key {
        arguments.insert("x-dead-letter-routing-key".into(), text(key));
    }
    if let Some(max) = config.max_length {
        arguments.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(i64::from(max)),
        );
    }
    if let Some(ttl) = config.message_ttl_ms {
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::from(ttl)),
        );
    }
    if let Some(expires) = config.expires_ms {
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::from(expires)),
        );
    }
    if let Some(queue_type) = config.queue_type {
        let name = match queue_type {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        };
        arguments.insert("x-queue-type".into(), text(name));
    }
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arguments_carry_the_configured_features() {
        let config = QueueConfig {
            dead_letter_exchange: Some("dlx".into()),
            dead_letter_routing_key: Some("dead".into()),
            max_length: Some(10),
            message_ttl_ms: Some(500),
            queue_type: Some(QueueType::Quorum),
            ..QueueConfig::default()
        };
        let arguments = queue_arguments(&config);
        let names: Vec<&str> = arguments.inner().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-dead-letter-exchange",
                "x-dead-letter-routing-key",
                "x-max-length",
                "x-message-ttl",
                "x-queue-type"
            ]
        );
        assert!(queue_arguments(&QueueConfig::default()).inner().is_empty());
    }
}
