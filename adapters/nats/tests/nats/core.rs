//! The core NATS inbound: every message published while it is subscribed is delivered, binary
//! and structured alike; a queue group splits the messages between its members.

use serde_json::json;

use switchyard_nats::{NatsInbound, NatsInboundConfig};
use switchyard_testing::{Recorder, RunningInbound, eventually};

use crate::support::{URL, client, unique};

async fn start(
    name: &str,
    subject: &str,
    group: Option<&str>,
    recorder: &Recorder,
) -> RunningInbound {
    let config: NatsInboundConfig = serde_json::from_value(json!({
        "url": URL, "subjects": [subject], "queue_group": group,
    }))
    .expect("valid config");
    let inbound = NatsInbound::build(name, &config).expect("builds");
    RunningInbound::start(name, inbound, recorder.accepting(), None).await
}

fn binary(id: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", id),
        ("ce-source", "/t"),
        ("ce-type", "t"),
    ] {
        headers.insert(name, value);
    }
    headers.insert("ce-datacontenttype", "text/plain");
    headers
}

#[tokio::test]
async fn core_messages_arrive_as_events_with_their_topic() {
    let base = unique("core");
    let recorder = Recorder::new();
    let inbound = start("core", &format!("{base}.>"), None, &recorder).await;
    let publisher = client().await;
    let subject = format!("{base}.orders.eu");
    publisher
        .publish_with_headers(subject.clone(), binary("b-1"), "hello".into())
        .await
        .expect("published");
    let structured = json!({"specversion": "1.0", "id": "s-1", "source": "/t", "type": "t"});
    publisher
        .publish(subject, structured.to_string().into())
        .await
        .expect("published");
    publisher.flush().await.expect("flushed");
    let delivered = recorder.wait_for(2).await;
    let first = &delivered[0];
    assert_eq!(first.cloud.id, "b-1");
    assert_eq!(
        &*first.topic,
        format!("{base}/orders/eu"),
        "subject tokens become levels"
    );
    assert_eq!(
        first.cloud.data,
        Some(switchyard_core::cloudevent::Data::Text("hello".into()))
    );
    assert_eq!(delivered[1].cloud.id, "s-1");
    inbound.stop().await;
}

#[tokio::test]
async fn a_queue_group_splits_the_messages_between_its_members() {
    let base = unique("group");
    let (a, b) = (Recorder::new(), Recorder::new());
    let subject = format!("{base}.jobs");
    let first = start("member-a", &subject, Some("workers"), &a).await;
    let second = start("member-b", &subject, Some("workers"), &b).await;
    let publisher = client().await;
    for n in 0..200 {
        let event =
            json!({"specversion": "1.0", "id": format!("j-{n}"), "source": "/t", "type": "t"});
        publisher
            .publish(subject.clone(), event.to_string().into())
            .await
            .expect("published");
    }
    publisher.flush().await.expect("flushed");
    eventually("every job to be delivered once", || {
        a.delivered_count() + b.delivered_count() == 200
    })
    .await;
    assert!(
        a.delivered_count() > 0 && b.delivered_count() > 0,
        "both members got work"
    );
    let mut ids: Vec<String> = a
        .delivered()
        .into_iter()
        .chain(b.delivered())
        .map(|e| e.cloud.id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "no job went to both");
    first.stop().await;
    second.stop().await;
}
