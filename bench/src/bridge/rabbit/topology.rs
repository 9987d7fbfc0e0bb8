//! The benchmark's own exchange and queue: declared with unique names, purged between phases,
//! sampled for one message, deleted at the end.

use anyhow::Result;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};

use super::{ADMIN_TIMEOUT, QUEUE_EXPIRES_MS, ROUTING_KEY, bounded, connect};

/// The benchmark's exchange and queue on an administrative connection.
#[derive(Debug)]
pub struct Topology {
    connection: Connection,
    channel: Channel,
    pub exchange: String,
    pub queue: String,
}

impl Topology {
    /// Declares a durable direct exchange and a durable classic queue bound to it with
    /// [`ROUTING_KEY`].
    pub async fn declare(url: &str, tag: &str) -> Result<Self> {
        let connection = connect(url).await?;
        let channel = bounded("open a channel", connection.create_channel()).await?;
        let exchange = format!("switchyard-bench-x-{tag}");
        let queue = format!("switchyard-bench-q-{tag}");
        let options = ExchangeDeclareOptions {
            durable: true,
            auto_delete: true,
            ..ExchangeDeclareOptions::default()
        };
        bounded(
            "exchange.declare",
            channel.exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                options,
                FieldTable::default(),
            ),
        )
        .await?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongLongInt(QUEUE_EXPIRES_MS));
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("classic".into()),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        bounded(
            "queue.declare",
            channel.queue_declare(queue.as_str().into(), options, arguments),
        )
        .await?;
        bounded(
            "queue.bind",
            channel.queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                ROUTING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Self {
            connection,
            channel,
            exchange,
            queue,
        })
    }

    /// Empties the queue; returns how many messages it held.
    pub async fn purge(&self) -> Result<u32> {
        bounded(
            "queue.purge",
            self.channel
                .queue_purge(self.queue.as_str().into(), QueuePurgeOptions::default()),
        )
        .await
    }

    /// Takes one message from the queue: its body, its properties and a description of its
    /// layout (body size, headers).
    pub async fn sample_one(&self) -> Result<Option<Sample>> {
        let got = bounded(
            "basic.get",
            self.channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true }),
        )
        .await?;
        Ok(got.map(|message| {
            let delivery = message.delivery;
            let props = &delivery.properties;
            let mut names: Vec<String> = props
                .headers()
                .as_ref()
                .map(|h| h.inner().keys().map(|k| k.to_string()).collect())
                .unwrap_or_default();
            names.sort();
            let header_bytes: usize = props
                .headers()
                .as_ref()
                .map(|h| {
                    h.inner()
                        .iter()
                        .map(|(k, v)| k.as_str().len() + value_len(v))
                        .sum()
                })
                .unwrap_or_default();
            let description = format!(
                "body {} B, {} headers (~{} B: {}), content_type {}, message_id {}, timestamp {}, delivery_mode {}",
                delivery.data.len(),
                names.len(),
                header_bytes,
                names.join(" "),
                props
                    .content_type()
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| c.to_string()),
                if props.message_id().is_some() { "set" } else { "-" },
                if props.timestamp().is_some() { "set" } else { "-" },
                props.delivery_mode().unwrap_or_default()
            );
            Sample {
                properties: delivery.properties.clone(),
                body: delivery.data,
                description,
            }
        }))
    }

    /// Deletes the exchange and the queue and closes the connection.
    pub async fn delete(self) -> Result<()> {
        // The exchange first: it is auto-delete, so removing the queue (its only binding)
        // first would delete it and make this delete fail.
        bounded(
            "exchange.delete",
            self.channel.exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            ),
        )
        .await?;
        bounded(
            "queue.delete",
            self.channel
                .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default()),
        )
        .await?;
        let _ = tokio::time::timeout(
            ADMIN_TIMEOUT,
            self.connection.close(200, "bench done".into()),
        )
        .await;
        Ok(())
    }
}

fn value_len(value: &AMQPValue) -> usize {
    match value {
        AMQPValue::LongString(s) => s.as_bytes().len(),
        AMQPValue::ShortString(s) => s.as_str().len(),
        _ => 8,
    }
}

/// One message as the broker held it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    pub description: String,
}
