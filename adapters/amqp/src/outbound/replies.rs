//! Replies to requests (`POST /rpc`) published by this outbound. A request goes out with
//! `reply_to` (RabbitMQ's direct reply-to by default) and a fresh `correlation_id` per
//! attempt; on every connection a consumer on the reply address hands each reply to the
//! attempt that waits for it ([`Pending`]). Replies are consumed without acks: the caller
//! waits in memory, so a reply that finds no one has nowhere better to go.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Consumer};

use switchyard_core::rpc::{MAX_REPLY_BYTES, Pending, Registration};

use crate::convert::{self, Incoming};
use crate::error::{SetupError, short_string};

/// RabbitMQ's pseudo-queue for replies on the requesting channel (no queue is declared).
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The reply address and the requests waiting on it; shared by the outbound and its
/// connection task.
#[derive(Debug)]
pub(crate) struct Replies {
    address: ShortString,
    pending: Arc<Pending>,
}

impl Replies {
    pub(crate) fn new(
        outbound: &str,
        address: &str,
        capacity: usize,
    ) -> Result<Self, crate::error::NameTooLong> {
        Ok(Self {
            address: short_string("reply_to", address)?,
            pending: Pending::new(outbound, capacity),
        })
    }

    /// Registers one attempt of a request and names the reply address on its message.
    pub(crate) fn ask(
        &self,
        properties: BasicProperties,
    ) -> Result<(Registration, BasicProperties), switchyard_core::DeliveryError> {
        let registration = self.pending.register()?;
        let properties = properties
            .with_reply_to(self.address.clone())
            .with_correlation_id(registration.id().into());
        Ok((registration, properties))
    }

    /// Starts consuming replies on `channel` (the one requests are published on, as direct
    /// reply-to requires), in a task that ends with the channel.
    pub(crate) async fn listen(self: &Arc<Self>, channel: &Channel) -> Result<(), SetupError> {
        if self.address.as_str() != DIRECT_REPLY_TO {
            let options = QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(self.address.clone(), options, FieldTable::default())
                .await
                .map_err(SetupError::at(format!(
                    "declaring reply queue `{}`",
                    self.address
                )))?;
        }
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consumer = channel
            .basic_consume(
                self.address.clone(),
                ShortString::from(""),
                options,
                FieldTable::default(),
            )
            .await
            .map_err(SetupError::at(format!(
                "consuming replies on `{}`",
                self.address
            )))?;
        tokio::spawn(self.clone().read(consumer));
        Ok(())
    }

    async fn read(self: Arc<Self>, mut consumer: Consumer) {
        while let Some(Ok(delivery)) = consumer.next().await {
            let Some(correlation) = delivery.properties.correlation_id().clone() else {
                self.pending.malformed("a reply without correlation_id");
                continue;
            };
            let answer = if delivery.data.len() > MAX_REPLY_BYTES {
                Err(format!("the reply is over {MAX_REPLY_BYTES} bytes"))
            } else {
                convert::decode_reply(&Incoming {
                    properties: &delivery.properties,
                    body: Bytes::from(delivery.data),
                })
            };
            self.pending.answer(correlation.as_str(), answer);
        }
    }
}
