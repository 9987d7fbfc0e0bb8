//! Consumer groups that span gateways: each (filter, group) with members on this gateway is
//! fed from one durable JetStream consumer that every gateway with members of that group
//! shares, so each event goes to one member, wherever it is connected. A gateway whose members
//! cannot take a message naks it, and JetStream offers it again (to any gateway); the
//! consumer is deleted by the server after an hour without any gateway pulling.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::DeliverPolicy, consumer::pull};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use switchyard_core::cloudevent::json;
use switchyard_core::hub::Hub;
use switchyard_core::topic::TopicFilter;

use crate::convert::subject::{subject_of, topic_of};

/// How often the groups with members here are looked at.
const SCAN: Duration = Duration::from_millis(250);
/// A group's consumer no gateway pulls from is removed by the server after this.
const INACTIVE: Duration = Duration::from_secs(3600);

/// Runs for the life of the process: starts a feeder for every group that gains members here,
/// stops it when the last one leaves.
pub(super) async fn run(context: jetstream::Context, stream: String, hub: Hub) {
    let mut feeders: HashMap<(String, String), CancellationToken> = HashMap::new();
    loop {
        let now: Vec<(String, String)> = hub.groups();
        feeders.retain(|key, stop| {
            let keep = now.contains(key);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for key in now {
            if feeders.contains_key(&key) {
                continue;
            }
            let stop = CancellationToken::new();
            let feeder = feed(
                context.clone(),
                stream.clone(),
                hub.clone(),
                key.clone(),
                stop.clone(),
            );
            tokio::spawn(feeder);
            feeders.insert(key, stop);
        }
        tokio::time::sleep(SCAN).await;
    }
}

/// The shared durable consumer's name: stable on every gateway and every build, so an FNV-1a
/// hash written here (std's hasher promises neither), of the filter and the group.
fn consumer_name(filter: &str, group: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in filter.bytes().chain([0]).chain(group.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("switchyard_group_{hash:016x}")
}

/// Pulls the group's messages and hands each to one member here until `stop`.
async fn feed(
    context: jetstream::Context,
    stream: String,
    hub: Hub,
    (filter, group): (String, String),
    stop: CancellationToken,
) {
    let subject = match TopicFilter::parse(&filter).map(|_| subject_of(&filter, true)) {
        Ok(Ok(subject)) => subject,
        _ => {
            tracing::warn!(%filter, %group, "a group filter no subject can express; not fed");
            return;
        }
    };
    let name = consumer_name(&filter, &group);
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(format!("switchyard group `{group}` on `{filter}`")),
        filter_subject: format!("{stream}.{subject}"),
        deliver_policy: DeliverPolicy::New,
        inactive_threshold: INACTIVE,
        ..pull::Config::default()
    };
    let prefix = format!("{stream}.");
    while !stop.is_cancelled() {
        let mut messages = match open(&context, &stream, &name, config.clone()).await {
            Ok(messages) => messages,
            Err(reason) => {
                tracing::warn!(%stream, %group, %reason, "group consumer unavailable; retrying");
                pause(&stop).await;
                continue;
            }
        };
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = messages.next() => message,
            };
            let Some(Ok(message)) = message else {
                break;
            };
            hand_over(&hub, (&filter, &group), &prefix, &message).await;
        }
    }
}

/// The group's shared consumer (created by the first gateway that needs it) and its messages.
async fn open(
    context: &jetstream::Context,
    stream: &str,
    name: &str,
    config: pull::Config,
) -> Result<pull::Stream, String> {
    let handle = context
        .get_stream(stream)
        .await
        .map_err(|e| format!("stream: {e}"))?;
    let consumer = handle
        .get_or_create_consumer(name, config)
        .await
        .map_err(|e| format!("consumer: {e}"))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("pulling: {e}"))
}

/// Gives one message to a member here and acks it, or naks it for another gateway's members.
async fn hand_over(hub: &Hub, key: (&str, &str), prefix: &str, message: &jetstream::Message) {
    let taken = match (message.info(), json::decode_event(&message.payload)) {
        (Ok(info), Ok(event)) => {
            let subject = message.subject.as_str();
            let topic = topic_of(subject.strip_prefix(prefix).unwrap_or(subject));
            hub.deliver_to_group(key, info.stream_sequence, &topic, &event)
        }
        // Not an event: nobody can take it, and offering it again would not help.
        _ => true,
    };
    let kind = if taken {
        AckKind::Ack
    } else {
        AckKind::Nak(Some(Duration::from_millis(50)))
    };
    if let Err(e) = message.ack_with(kind).await {
        tracing::debug!(group = key.1, error = %e, "group consumer: settling failed; redelivered after ack_wait");
    }
}

async fn pause(stop: &CancellationToken) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
}
