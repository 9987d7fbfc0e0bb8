//! The inbound against RabbitMQ: decoding every layout, acking only after the pipeline
//! confirmed, requeueing, dead-lettering (sink and broker DLX), prefetch, reconnecting.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde_json::json;

use switchyard_amqp::AmqpInboundConfig;
use switchyard_core::DeliveryError;
use switchyard_core::cloudevent::{Data, ExtensionValue};
use switchyard_core::event::Event;
use switchyard_core::settle::{REASON_EXTENSION, UNDECODABLE_TYPE};

use crate::support::{
    Broker, QUEUE_EXPIRES_MS, Recorder, RunningInbound, URL, accepting, close_connections,
    eventually, pipeline, poll_some, sink, unique,
};

/// An inbound that declares a temporary topic exchange, its queue (with `queue` settings
/// added) and a `#` binding.
fn config(queue: &str, exchange: &str, queue_settings: serde_json::Value) -> AmqpInboundConfig {
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

fn headers(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (name, value) in entries {
        table.insert((*name).into(), value.clone());
    }
    table
}

fn text(value: &str) -> AMQPValue {
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

fn binary(prefix: &str, id: &str, extra: &[(&str, AMQPValue)]) -> BasicProperties {
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

fn structured() -> BasicProperties {
    BasicProperties::default().with_content_type("application/cloudevents+json".into())
}

/// The `reason` of the broker's newest `x-death` record.
fn death_reason(headers: &FieldTable) -> Option<String> {
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        return None;
    };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else {
        return None;
    };
    match death.inner().get("reason") {
        Some(AMQPValue::LongString(reason)) => Some(reason.to_string()),
        _ => None,
    }
}

fn by_id(events: Vec<Event>) -> HashMap<String, Event> {
    events
        .into_iter()
        .map(|e| (e.cloud.id.clone(), e))
        .collect()
}

#[tokio::test]
async fn consumes_binary_structured_and_plain_messages() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("decode"), unique("decode-x"));
    let recorder = Recorder::new();
    let inbound = RunningInbound::start(
        config(&queue, &exchange, json!({})),
        accepting(recorder.clone()),
        None,
    )
    .await;

    let native = [
        ("count", AMQPValue::LongInt(7)),
        ("urgent", AMQPValue::Boolean(true)),
        ("time", text("2024-01-02T03:04:05.678Z")),
    ];
    let underscore =
        binary("cloudEvents_", "b-1", &native).with_content_type("application/json".into());
    broker
        .publish(&exchange, "orders.created", underscore, br#"{"n":1}"#)
        .await;
    let colon = binary("cloudEvents:", "b-2", &[]).with_content_type("text/plain".into());
    broker
        .publish(&exchange, "orders.noted", colon, b"a note")
        .await;
    let body = br#"{"specversion":"1.0","id":"s-1","source":"/tests","type":"test.structured","data":[1,2]}"#;
    broker
        .publish(&exchange, "orders.structured", structured(), body)
        .await;
    let plain = BasicProperties::default().with_message_id("p-1".into());
    broker
        .publish(&exchange, "raw.bytes", plain, &[0, 1, 2, 255])
        .await;

    eventually("4 events delivered", || recorder.delivered_count() == 4).await;
    let events = by_id(recorder.delivered());
    let b1 = &events["b-1"];
    assert_eq!(b1.topic.as_ref(), "orders/created");
    assert_eq!(b1.origin.inbound.as_ref(), inbound.name);
    assert_eq!(b1.cloud.extensions["count"], ExtensionValue::Integer(7));
    assert_eq!(b1.cloud.extensions["urgent"], ExtensionValue::Boolean(true));
    assert_eq!(b1.cloud.time.as_deref(), Some("2024-01-02T03:04:05.678Z"));
    assert_eq!(
        b1.cloud.data,
        Some(Data::Json(br#"{"n":1}"#.as_slice().into()))
    );
    assert_eq!(events["b-2"].cloud.data, Some(Data::Text("a note".into())));
    assert_eq!(events["s-1"].cloud.ty, "test.structured");
    assert_eq!(
        events["s-1"].cloud.data,
        Some(Data::Json(b"[1,2]".as_slice().into()))
    );
    let wrapped = &events["p-1"].cloud;
    assert_eq!(
        (wrapped.source.as_str(), wrapped.subject.as_deref()),
        (format!("/amqp/{queue}").as_str(), Some("raw.bytes"))
    );
    assert_eq!(
        wrapped.data,
        Some(Data::Binary(vec![0u8, 1, 2, 255].into()))
    );

    inbound.stop().await;
    assert_eq!(
        broker.ready_count(&queue).await,
        0,
        "every message was acked"
    );
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn transient_failures_are_requeued_until_delivered() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("retry"), unique("retry-x"));
    let recorder = Recorder::new();
    let flaky = pipeline(recorder.clone(), |_, attempt| match attempt {
        1 | 2 => Err(DeliveryError::Unavailable {
            sink: "webhook".into(),
            reason: "down".into(),
            retry_after: Some(Duration::from_millis(10)),
        }),
        _ => Ok(()),
    });
    let inbound = RunningInbound::start(config(&queue, &exchange, json!({})), flaky, None).await;
    for i in 0..5 {
        broker
            .publish(
                &exchange,
                "k",
                binary("cloudEvents_", &format!("r-{i}"), &[]),
                b"",
            )
            .await;
    }
    eventually("5 events delivered", || recorder.delivered_count() == 5).await;
    inbound.stop().await;

    let delivered = by_id(recorder.delivered());
    assert_eq!(delivered.len(), 5, "each event delivered once");
    for i in 0..5 {
        assert_eq!(
            recorder.attempts(&format!("r-{i}")),
            3,
            "two requeues, then delivered"
        );
    }
    assert_eq!(broker.ready_count(&queue).await, 0, "nothing left behind");
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn permanent_failures_without_a_dead_letter_sink_go_to_the_queues_dlx() {
    let broker = Broker::connect().await;
    let (queue, exchange, dlx, dlq) = (
        unique("reject"),
        unique("reject-x"),
        unique("dlx"),
        unique("dlq"),
    );
    let options = ExchangeDeclareOptions {
        auto_delete: true,
        ..ExchangeDeclareOptions::default()
    };
    let fanout = lapin::ExchangeKind::Fanout;
    broker
        .channel
        .exchange_declare(dlx.as_str().into(), fanout, options, FieldTable::default())
        .await
        .expect("dlx");
    broker.queue(&dlq, FieldTable::default()).await;
    let bind = broker.channel.queue_bind(
        dlq.as_str().into(),
        dlx.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    );
    bind.await.expect("bind dlq");

    let recorder = Recorder::new();
    let no_route = pipeline(recorder.clone(), |event, _| {
        Err(DeliveryError::NoRoute {
            inbound: event.origin.inbound.to_string(),
            topic: event.topic.to_string(),
        })
    });
    let inbound = RunningInbound::start(
        config(&queue, &exchange, json!({"dead_letter_exchange": dlx})),
        no_route,
        None,
    )
    .await;
    broker
        .publish(
            &exchange,
            "nowhere",
            binary("cloudEvents_", "d-1", &[]),
            b"payload",
        )
        .await;

    let dead = broker.get(&dlq).await;
    assert_eq!(dead.delivery.data, b"payload");
    let table = dead.delivery.properties.headers().clone().expect("headers");
    assert_eq!(
        table.inner().get("cloudEvents_id"),
        Some(&text("d-1")),
        "the original message"
    );
    assert_eq!(
        death_reason(&table).as_deref(),
        Some("rejected"),
        "dead-lettered by reject"
    );
    assert_eq!(recorder.attempts("d-1"), 1, "not requeued");
    inbound.stop().await;
    assert_eq!(broker.ready_count(&queue).await, 0);
    broker.delete_queue(&queue).await;
    broker.delete_queue(&dlq).await;
}

#[tokio::test]
async fn permanent_failures_and_undecodable_messages_go_to_the_dead_letter_sink() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("dead"), unique("dead-x"));
    let (recorder, dead) = (Recorder::new(), Recorder::new());
    let refusing = pipeline(recorder.clone(), |_, _| {
        Err(DeliveryError::Rejected {
            sink: "webhook".into(),
            reason: "HTTP 400".into(),
        })
    });
    let inbound = RunningInbound::start(
        config(&queue, &exchange, json!({})),
        refusing,
        Some(sink(dead.clone())),
    )
    .await;
    broker
        .publish(&exchange, "k", binary("cloudEvents_", "v-1", &[]), b"")
        .await;
    broker
        .publish(
            &exchange,
            "k",
            structured(),
            br#"{"specversion":"1.0","id":"#,
        )
        .await;
    broker
        .publish(&exchange, "k", structured(), &[0xff, 0xfe, 0xfd])
        .await;
    let no_specversion =
        BasicProperties::default().with_headers(headers(&[("cloudEvents_id", text("x"))]));
    broker.publish(&exchange, "k", no_specversion, b"").await;

    eventually("4 dead letters", || dead.delivered_count() == 4).await;
    let letters = dead.delivered();
    let reason = |e: &Event| e.cloud.extensions[REASON_EXTENSION].to_canonical_string();
    let valid = letters
        .iter()
        .find(|e| e.cloud.id == "v-1")
        .expect("the refused event");
    assert!(reason(valid).contains("HTTP 400"), "{}", reason(valid));
    let undecodable: Vec<&Event> = letters
        .iter()
        .filter(|e| e.cloud.ty == UNDECODABLE_TYPE)
        .collect();
    assert_eq!(undecodable.len(), 3);
    assert!(
        undecodable
            .iter()
            .all(|e| reason(e).starts_with("not a valid CloudEvent"))
    );
    let raw = Some(Data::Binary(vec![0xffu8, 0xfe, 0xfd].into()));
    assert!(
        undecodable.iter().any(|e| e.cloud.data == raw),
        "the raw body is kept"
    );
    assert_eq!(
        recorder.attempts.lock().expect("lock").len(),
        1,
        "undecodable messages skip the pipeline"
    );

    inbound.stop().await;
    assert_eq!(
        broker.ready_count(&queue).await,
        0,
        "dead-lettered messages are acked"
    );
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn prefetch_bounds_the_deliveries_in_flight() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("prefetch"), unique("prefetch-x"));
    let recorder = Recorder::gated();
    let mut settings = config(&queue, &exchange, json!({}));
    settings.prefetch = 3;
    let inbound = RunningInbound::start(settings, accepting(recorder.clone()), None).await;
    for i in 0..10 {
        broker
            .publish(
                &exchange,
                "k",
                binary("cloudEvents_", &format!("p-{i}"), &[]),
                b"",
            )
            .await;
    }
    eventually("3 calls in flight", || {
        recorder.in_flight.load(Ordering::SeqCst) == 3
    })
    .await;
    let held_back = poll_some("7 messages still in the queue", || async {
        (broker.ready_count(&queue).await == 7).then_some(())
    });
    held_back.await;
    assert_eq!(recorder.delivered_count(), 0, "nothing passes the gate yet");

    recorder.gate.as_ref().expect("gated").add_permits(10);
    eventually("all 10 delivered", || recorder.delivered_count() == 10).await;
    assert_eq!(
        recorder.max_in_flight.load(Ordering::SeqCst),
        3,
        "never more than prefetch"
    );
    inbound.stop().await;
    assert_eq!(broker.ready_count(&queue).await, 0);
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn a_lost_connection_is_reestablished_and_unacked_messages_redelivered() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("reconnect"), unique("reconnect-x"));
    let recorder = Recorder::gated();
    let inbound = RunningInbound::start(
        config(&queue, &exchange, json!({})),
        accepting(recorder.clone()),
        None,
    )
    .await;
    broker
        .publish(&exchange, "k", binary("cloudEvents_", "c-1", &[]), b"")
        .await;
    eventually("the message in flight", || {
        recorder.started.load(Ordering::SeqCst) == 1
    })
    .await;

    let name = inbound.name.clone();
    let closed = poll_some("the inbound's connection closed by the broker", || {
        let name = name.clone();
        async move {
            (tokio::task::spawn_blocking(move || close_connections(&name))
                .await
                .expect("rabbitmqctl")
                > 0)
            .then_some(())
        }
    });
    closed.await;
    // Its ack became impossible with the connection: the broker redelivers it to the new one.
    eventually("the message redelivered", || {
        recorder.started.load(Ordering::SeqCst) == 2
    })
    .await;
    recorder.gate.as_ref().expect("gated").add_permits(100);
    eventually("delivered", || recorder.delivered_count() == 1).await;

    broker
        .publish(&exchange, "k", binary("cloudEvents_", "c-2", &[]), b"")
        .await;
    eventually("consuming again", || recorder.delivered_count() == 2).await;
    inbound.stop().await;
    assert_eq!(broker.ready_count(&queue).await, 0, "no loss");
    broker.delete_queue(&queue).await;
}
