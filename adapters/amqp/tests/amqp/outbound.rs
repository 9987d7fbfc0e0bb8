//! The outbound against RabbitMQ: confirmed publishes read back in both modes, refusals
//! (unroutable, bad routing keys), unavailability, reconnecting.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::json;
use tower::ServiceExt;

use switchyard_amqp::{AmqpOutbound, AmqpOutboundConfig};
use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue, json as ce_json};
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::{BoxError, DeliveryError};

use crate::support::{Broker, URL, close_connections, eventually, poll_some, unique};

/// An outbound publishing to `exchange` (declared by it, temporary), with extra settings.
async fn outbound(
    name: &str,
    exchange: &str,
    extra: serde_json::Value,
) -> (AmqpOutbound, Readiness) {
    let mut settings = json!({
        "url": URL,
        "exchange": exchange,
        "declare": {"name": exchange, "durable": false, "auto_delete": true},
    });
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    let config: AmqpOutboundConfig =
        serde_json::from_value(settings).expect("valid outbound config");
    let readiness = Readiness::default();
    let outbound =
        AmqpOutbound::connect(name, &config, readiness.register(name)).expect("outbound builds");
    let ready = readiness.clone();
    eventually("outbound connected", move || ready.report().0).await;
    (outbound, readiness)
}

/// Declares the exchange as the outbound will, plus a temporary queue bound with `key`.
pub async fn bound_queue(broker: &Broker, exchange: &str, key: &str) -> String {
    let queue = unique("out-q");
    let options = ExchangeDeclareOptions {
        auto_delete: true,
        ..ExchangeDeclareOptions::default()
    };
    let topic = lapin::ExchangeKind::Topic;
    broker
        .channel
        .exchange_declare(exchange.into(), topic, options, FieldTable::default())
        .await
        .expect("exchange");
    broker.queue(&queue, FieldTable::default()).await;
    let bind = broker.channel.queue_bind(
        queue.as_str().into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    );
    bind.await.expect("bind");
    queue
}

fn sample(topic: &str) -> Event {
    let mut cloud = CloudEvent::new(uuid::Uuid::new_v4().to_string(), "/orders", "order.created");
    cloud.subject = Some("order 17".into());
    cloud.time = Some("2025-03-04T05:06:07.891Z".into());
    cloud
        .extensions
        .insert("priority".into(), ExtensionValue::Integer(3));
    cloud
        .extensions
        .insert("express".into(), ExtensionValue::Boolean(true));
    cloud
        .extensions
        .insert("region".into(), ExtensionValue::String("eu".into()));
    cloud.datacontenttype = Some("application/json".into());
    cloud.data = Some(Data::Json(br#"{"total":12.5}"#.as_slice().into()));
    Event::new(cloud, "http", topic)
}

fn delivery_error(err: &BoxError) -> &DeliveryError {
    DeliveryError::find(err.as_ref()).expect("a DeliveryError")
}

#[tokio::test]
async fn binary_publishes_are_confirmed_and_carry_every_attribute() {
    let broker = Broker::connect().await;
    let exchange = unique("out-bin");
    let queue = bound_queue(&broker, &exchange, "orders.created").await;
    let (outbound, _readiness) = outbound("bin", &exchange, json!({})).await;
    let event = sample("orders/created");

    outbound
        .clone()
        .oneshot(event.clone())
        .await
        .expect("confirmed");
    // Confirmed means queued: the message is there without waiting.
    assert_eq!(broker.ready_count(&queue).await, 1);
    let message = broker.get(&queue).await.delivery;
    let properties = &message.properties;
    let table = properties.headers().clone().expect("headers");
    let header = |name: &str| table.inner().get(name).cloned();
    let text = |value: &str| Some(AMQPValue::LongString(LongString::from(value)));
    assert_eq!(header("cloudEvents_specversion"), text("1.0"));
    assert_eq!(header("cloudEvents_id"), text(&event.cloud.id));
    assert_eq!(header("cloudEvents_source"), text("/orders"));
    assert_eq!(header("cloudEvents_type"), text("order.created"));
    assert_eq!(header("cloudEvents_subject"), text("order 17"));
    assert_eq!(header("cloudEvents_time"), text("2025-03-04T05:06:07.891Z"));
    assert_eq!(header("cloudEvents_region"), text("eu"));
    assert_eq!(header("cloudEvents_priority"), Some(AMQPValue::LongInt(3)));
    assert_eq!(
        header("cloudEvents_express"),
        Some(AMQPValue::Boolean(true))
    );
    assert_eq!(
        properties.content_type().as_ref().map(ShortString::as_str),
        Some("application/json")
    );
    assert_eq!(
        properties.message_id().as_ref().map(ShortString::as_str),
        Some(event.cloud.id.as_str())
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(*properties.timestamp(), Some(1_741_064_767));
    assert_eq!(message.routing_key.as_str(), "orders.created");
    assert_eq!(message.data, br#"{"total":12.5}"#);
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn structured_publishes_carry_the_whole_event() {
    let broker = Broker::connect().await;
    let exchange = unique("out-struct");
    let queue = bound_queue(&broker, &exchange, "#").await;
    let settings =
        json!({"mode": "structured", "routing_key": "audit.{type}", "persistent": false});
    let (outbound, _readiness) = outbound("struct", &exchange, settings).await;
    let event = sample("orders/created");

    outbound
        .clone()
        .oneshot(event.clone())
        .await
        .expect("confirmed");
    let message = broker.get(&queue).await.delivery;
    let content_type = message
        .properties
        .content_type()
        .as_ref()
        .map(ShortString::as_str);
    assert_eq!(content_type, Some("application/cloudevents+json"));
    assert_eq!(message.routing_key.as_str(), "audit.order.created");
    assert_eq!(*message.properties.delivery_mode(), None);
    let decoded = ce_json::decode_event(&message.data.into()).expect("the JSON format");
    assert_eq!(decoded, event.cloud);
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn unroutable_events_are_rejected() {
    let exchange = unique("out-nowhere");
    let (outbound, _readiness) = outbound("nowhere", &exchange, json!({})).await;
    let err = outbound
        .clone()
        .oneshot(sample("no/queue"))
        .await
        .expect_err("no queue is bound");
    match delivery_error(&err) {
        DeliveryError::Rejected { reason, .. } => {
            assert!(
                reason.starts_with("unroutable: no queue bound for routing key `no.queue`"),
                "{reason}"
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    // Auto-delete only fires once a binding is removed; this exchange never had one.
    Broker::connect().await.delete_exchange(&exchange).await;
}

#[tokio::test]
async fn unusable_routing_keys_are_rejected() {
    let exchange = unique("out-keys");
    let (outbound, _readiness) =
        outbound("keys", &exchange, json!({"routing_key": "{subject}"})).await;
    for subject in ["k".repeat(256), "a.*.b".to_owned(), "a.#".to_owned()] {
        let mut event = sample("t");
        event.cloud.subject = Some(subject.clone());
        let err = outbound.clone().oneshot(event).await.expect_err("refused");
        assert!(
            matches!(delivery_error(&err), DeliveryError::Rejected { .. }),
            "{subject}: {err}"
        );
    }
    Broker::connect().await.delete_exchange(&exchange).await;
}

#[tokio::test]
async fn an_unreachable_broker_makes_publishing_unavailable_at_once() {
    let config: AmqpOutboundConfig = serde_json::from_value(
        json!({"url": "amqp://guest:guest@127.0.0.1:1/%2f", "exchange": ""}),
    )
    .expect("config");
    let readiness = Readiness::default();
    let outbound =
        AmqpOutbound::connect("down", &config, readiness.register("down")).expect("builds");
    let started = std::time::Instant::now();
    let err = outbound
        .oneshot(sample("t"))
        .await
        .expect_err("not connected");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "no waiting"
    );
    assert!(
        matches!(
            delivery_error(&err),
            DeliveryError::Unavailable {
                retry_after: Some(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(!readiness.report().0);
}

#[tokio::test]
async fn the_outbound_reconnects_after_losing_its_connection() {
    let broker = Broker::connect().await;
    let exchange = unique("out-reconnect");
    let queue = bound_queue(&broker, &exchange, "#").await;
    let name = unique("reconnect");
    let (outbound, readiness) = outbound(&name, &exchange, json!({})).await;
    outbound
        .clone()
        .oneshot(sample("a"))
        .await
        .expect("confirmed");

    let closed = poll_some("the outbound's connection closed by the broker", || {
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
    // Publishing fails fast while disconnected and works again once reconnected.
    let published = poll_some("a publish confirmed after reconnecting", || {
        let outbound = outbound.clone();
        async move { outbound.oneshot(sample("b")).await.ok() }
    });
    published.await;
    assert!(readiness.report().0);
    assert!(broker.ready_count(&queue).await >= 2, "at least once");
    broker.delete_queue(&queue).await;
}

#[tokio::test]
async fn a_channel_closed_by_a_broker_error_is_reopened() {
    let broker = Broker::connect().await;
    let exchange = unique("out-missing");
    let (outbound, _readiness) = outbound("missing", &exchange, json!({"declare": null})).await;
    // Publishing to a missing exchange makes the broker close the channel (404).
    let err = outbound
        .clone()
        .oneshot(sample("a"))
        .await
        .expect_err("no such exchange");
    assert!(
        matches!(delivery_error(&err), DeliveryError::Unavailable { .. }),
        "{err}"
    );

    let queue = bound_queue(&broker, &exchange, "#").await;
    let published = poll_some("a publish confirmed on a new channel", || {
        let outbound = outbound.clone();
        async move { outbound.oneshot(sample("b")).await.ok() }
    });
    published.await;
    assert_eq!(broker.ready_count(&queue).await, 1);
    broker.delete_queue(&queue).await;
}
