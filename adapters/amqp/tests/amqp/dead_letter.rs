//! Dead-lettering by the inbound: failures that will not heal, and messages that are not
//! valid CloudEvents, go to the dead-letter sink with their reason, or without one are
//! rejected into the queue's dead-letter exchange; either way they leave the queue.

use lapin::BasicProperties;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::json;

use switchyard_core::DeliveryError;
use switchyard_core::cloudevent::Data;
use switchyard_core::event::Event;
use switchyard_core::settle::{REASON_EXTENSION, UNDECODABLE_TYPE};

use crate::messages::{binary, config, headers, structured, text};
use crate::support::{Broker, Recorder, eventually, pipeline, sink, start_inbound, unique};

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
    let inbound = start_inbound(
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
    let inbound = start_inbound(
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
        recorder.distinct_events(),
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
