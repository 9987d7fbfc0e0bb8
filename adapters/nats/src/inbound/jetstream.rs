//! JetStream: pull from the durable consumer of an existing stream and deliver each message.
//! A stream or consumer that does not exist is an error naming the setting, retried with
//! backoff (readiness stays false) until an operator creates it; the pull is reopened after a
//! connection loss, and what was not acked comes back after `ack_wait`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{self, ErrorCode, consumer::pull};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use switchyard_core::health::ReadinessCheck;
use switchyard_core::retry::RetryPolicy;

use super::Tasks;
use super::delivery::{Delivery, Stream};
use crate::config::JetStreamConsumer;
use crate::connection::{self, Link};

/// Between attempts to find the stream and consumer or to reopen the pull.
const REOPEN: RetryPolicy = RetryPolicy::new(None, 200, 10_000);

/// Consumes until `shutdown`.
pub(super) async fn consume(
    client: &Client,
    js: &JetStreamConsumer,
    delivery: &Arc<Delivery>,
    ready: &ReadinessCheck,
    tasks: &mut Tasks,
    shutdown: &CancellationToken,
) {
    let context = jetstream::new(client.clone());
    let mut backoff = REOPEN.backoff();
    loop {
        let reason = match open(&context, js).await {
            Ok(messages) => {
                ready.set(true);
                backoff.reset();
                match pull_until_lost(messages, delivery, tasks, shutdown).await {
                    None => return,
                    Some(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        ready.set(false);
        let delay = backoff.next_delay(Duration::ZERO);
        tracing::warn!(inbound = %delivery.inbound(), %reason, ?delay, "JetStream consumer unavailable; retrying");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Before the gateway starts: the stream and the durable consumer must exist. What the
/// server answers decides; a server that cannot be reached within a few seconds is not an
/// error here (`consume` retries, readiness says why).
pub(super) async fn preflight(
    link: &Link,
    js: &JetStreamConsumer,
    path: &str,
) -> Result<(), Vec<String>> {
    let Some(client) = connection::probe(link).await else {
        return Ok(());
    };
    let context = jetstream::new(client);
    let stream = match context.get_stream(&js.stream).await {
        Ok(stream) => stream,
        Err(e) => {
            return match e.kind() {
                GetStreamErrorKind::JetStream(error)
                    if error.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Err(vec![format!(
                        "{path}.jetstream.stream: the server has no stream `{}`",
                        js.stream
                    )])
                }
                _ => Ok(()),
            };
        }
    };
    match stream.consumer_info(&js.durable).await {
        Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => Err(vec![format!(
            "{path}.jetstream.durable: stream `{}` has no consumer `{}`",
            js.stream, js.durable
        )]),
        _ => Ok(()),
    }
}

/// The consumer's message stream, or why there is none (naming the setting at fault).
async fn open(
    context: &jetstream::Context,
    js: &JetStreamConsumer,
) -> Result<pull::Stream, String> {
    let stream = context
        .get_stream(&js.stream)
        .await
        .map_err(|e| format!("jetstream.stream: stream `{}`: {e}", js.stream))?;
    let consumer = stream
        .get_consumer::<pull::Config>(&js.durable)
        .await
        .map_err(|e| {
            format!(
                "jetstream.durable: consumer `{}` of stream `{}`: {e}",
                js.durable, js.stream
            )
        })?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("pulling from consumer `{}`: {e}", js.durable))
}

/// Delivers messages until `shutdown` (`None`) or the pull fails (why).
async fn pull_until_lost(
    mut messages: pull::Stream,
    delivery: &Arc<Delivery>,
    tasks: &mut Tasks,
    shutdown: &CancellationToken,
) -> Option<String> {
    loop {
        let permit = tasks.slot(shutdown).await?;
        let message = tokio::select! {
            () = shutdown.cancelled() => return None,
            message = messages.next() => match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => return Some(format!("pull failed: {e}")),
                None => return Some("the pull ended".into()),
            },
        };
        let (delivery, stop) = (delivery.clone(), tasks.stop.clone());
        tasks.spawn(permit, async move {
            let acker = Stream {
                message: &message,
                inbound: delivery.inbound(),
            };
            delivery.settle(&message.message, acker, &stop).await;
        });
    }
}
