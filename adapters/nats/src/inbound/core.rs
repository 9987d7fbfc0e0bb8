//! Core NATS: subscribe to every subject (in the queue group, if any) and deliver each
//! message. async-nats resubscribes after a reconnect; what is published meanwhile is lost.

use std::sync::Arc;

use async_nats::Client;
use futures_util::StreamExt;
use futures_util::stream::select_all;
use tokio_util::sync::CancellationToken;

use super::Tasks;
use super::delivery::{Delivery, Unacknowledged};
use crate::config::NatsInboundConfig;

/// Consumes until `shutdown`.
pub(super) async fn consume(
    client: &Client,
    config: &NatsInboundConfig,
    delivery: &Arc<Delivery>,
    tasks: &mut Tasks,
    shutdown: &CancellationToken,
) {
    let mut subscribers = Vec::new();
    for subject in &config.subjects {
        let subscribed = match &config.queue_group {
            Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
            None => client.subscribe(subject.clone()).await,
        };
        match subscribed {
            Ok(subscriber) => subscribers.push(subscriber),
            Err(error) => {
                tracing::error!(inbound = %delivery.inbound(), %subject, %error, "cannot subscribe; not consuming");
                return;
            }
        }
    }
    let mut messages = select_all(subscribers);
    loop {
        let Some(permit) = tasks.slot(shutdown).await else {
            return;
        };
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = messages.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let (delivery, stop) = (delivery.clone(), tasks.stop.clone());
        tasks.spawn(permit, async move {
            let acker = Unacknowledged {
                inbound: delivery.inbound(),
            };
            delivery.settle(&message, acker, &stop).await;
        });
    }
}
