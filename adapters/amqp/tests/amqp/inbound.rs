//! The inbound against RabbitMQ: decoding every layout, acking only after the pipeline
//! confirmed, requeueing, prefetch, reconnecting. Dead-lettering is in `dead_letter.rs`.

use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::AMQPValue;
use serde_json::json;

use switchyard_core::DeliveryError;
use switchyard_core::cloudevent::{Data, ExtensionValue};

use crate::messages::{binary, by_id, config, structured, text};
use crate::support::{
    Broker, Recorder, accepting, close_connections, eventually, pipeline, poll_some, start_inbound,
    unique,
};

#[tokio::test]
async fn consumes_binary_structured_and_plain_messages() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("decode"), unique("decode-x"));
    let recorder = Recorder::new();
    let inbound = start_inbound(
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
    assert_eq!(b1.origin.inbound, inbound.name);
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
    let inbound = start_inbound(config(&queue, &exchange, json!({})), flaky, None).await;
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
async fn prefetch_bounds_the_deliveries_in_flight() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("prefetch"), unique("prefetch-x"));
    let recorder = Recorder::gated();
    let mut settings = config(&queue, &exchange, json!({}));
    settings.prefetch = 3;
    let inbound = start_inbound(settings, accepting(recorder.clone()), None).await;
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
    eventually("3 calls in flight", || recorder.in_flight() == 3).await;
    let held_back = poll_some("7 messages still in the queue", || async {
        (broker.ready_count(&queue).await == 7).then_some(())
    });
    held_back.await;
    assert_eq!(recorder.delivered_count(), 0, "nothing passes the gate yet");

    recorder.release(10);
    eventually("all 10 delivered", || recorder.delivered_count() == 10).await;
    assert_eq!(recorder.max_in_flight(), 3, "never more than prefetch");
    inbound.stop().await;
    assert_eq!(broker.ready_count(&queue).await, 0);
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn a_lost_connection_is_reestablished_and_unacked_messages_redelivered() {
    let broker = Broker::connect().await;
    let (queue, exchange) = (unique("reconnect"), unique("reconnect-x"));
    let recorder = Recorder::gated();
    let inbound = start_inbound(
        config(&queue, &exchange, json!({})),
        accepting(recorder.clone()),
        None,
    )
    .await;
    broker
        .publish(&exchange, "k", binary("cloudEvents_", "c-1", &[]), b"")
        .await;
    eventually("the message in flight", || recorder.calls() == 1).await;

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
    eventually("the message redelivered", || recorder.calls() == 2).await;
    recorder.release(100);
    eventually("delivered", || recorder.delivered_count() == 1).await;

    broker
        .publish(&exchange, "k", binary("cloudEvents_", "c-2", &[]), b"")
        .await;
    eventually("consuming again", || recorder.delivered_count() == 2).await;
    inbound.stop().await;
    assert_eq!(broker.ready_count(&queue).await, 0, "no loss");
    broker.delete_queue(&queue).await;
}
