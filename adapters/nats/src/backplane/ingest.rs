//! Feeding this gateway's hub from the stream: one ordered consumer (no acks, in stream order,
//! recreated by async-nats after a gap), every event stored at its stream sequence. After a
//! failure the consumer is recreated from the sequence after the last one stored, so a
//! gateway that lost NATS for a while gets exactly what it missed.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures_util::StreamExt;

use switchyard_core::cloudevent::json;
use switchyard_core::hub::Hub;
use switchyard_core::retry::RetryPolicy;

use crate::convert::subject::topic_of;

/// Between attempts to recreate the consumer.
const RECREATE: RetryPolicy = RetryPolicy::new(None, 200, 10_000);

/// Runs for the life of the process.
pub(super) async fn run(context: jetstream::Context, stream: String, hub: Hub) {
    let mut backoff = RECREATE.backoff();
    let mut next = 1;
    // What the stream held when this gateway started is history: restored for resumes, not
    // sent live to subscribers who connected after it was published.
    let history_through = match context.get_stream(&stream).await {
        Ok(mut handle) => handle
            .info()
            .await
            .map_or(0, |info| info.state.last_sequence),
        Err(_) => 0,
    };
    loop {
        let reason = consume(&context, &stream, &hub, &mut next, history_through).await;
        let delay = backoff.next_delay(Duration::ZERO);
        tracing::warn!(%stream, %reason, ?delay, next, "hub backplane consumer stopped; recreating it");
        tokio::time::sleep(delay).await;
    }
}

/// Stores events from sequence `next` on until the consumer fails (why).
async fn consume(
    context: &jetstream::Context,
    stream: &str,
    hub: &Hub,
    next: &mut u64,
    history_through: u64,
) -> String {
    let deliver_policy = match *next {
        1 => DeliverPolicy::All,
        start_sequence => DeliverPolicy::ByStartSequence { start_sequence },
    };
    let config = pull::OrderedConfig {
        filter_subject: format!("{stream}.>"),
        deliver_policy,
        ..pull::OrderedConfig::default()
    };
    let consumer = match context.get_stream(stream).await {
        Ok(handle) => handle.create_consumer(config).await,
        Err(e) => return format!("stream `{stream}`: {e}"),
    };
    let mut messages = match consumer {
        Ok(consumer) => match consumer.messages().await {
            Ok(messages) => messages,
            Err(e) => return format!("pulling: {e}"),
        },
        Err(e) => return format!("creating the consumer: {e}"),
    };
    let prefix = format!("{stream}.");
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => return format!("pull failed: {e}"),
        };
        let Ok(info) = message.info() else {
            continue;
        };
        let seq = info.stream_sequence;
        let subject = message.subject.as_str();
        let topic = topic_of(subject.strip_prefix(&prefix).unwrap_or(subject));
        match json::decode_event(&message.payload) {
            Ok(event) => {
                let stored = match seq <= history_through {
                    true => hub.restore_at(seq, &topic, &event),
                    false => hub.publish_at(seq, &topic, &event),
                };
                if let Err(error) = stored {
                    tracing::warn!(%stream, seq, %error, "the hub refused a backplane event");
                }
            }
            Err(error) => {
                tracing::warn!(%stream, seq, %error, "not a CloudEvent on the backplane; skipped")
            }
        }
        *next = seq + 1;
    }
    "the consumer ended".into()
}
