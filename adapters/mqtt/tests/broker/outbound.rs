//! The outbound: deliveries read back by a raw subscriber in binary and structured mode at
//! every QoS and in MQTT 3.1.1, topics that cannot be published refused, and (against the fake
//! broker) a delivery confirmed by the PUBACK of its own packet and nothing else.

use std::future::Future;

use bytes::Bytes;
use futures_util::FutureExt;
use switchyard_core::cloudevent::{CloudEvent, Data, ExtensionValue, json};
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_core::{BoxError, DeliveryError};
use switchyard_mqtt::{MqttOutbound, MqttOutboundConfig};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::fake::FakeBroker;
use crate::support::*;

fn config(url: &str, extra: serde_json::Value) -> MqttOutboundConfig {
    let mut settings =
        serde_json::json!({"url": url, "reconnect": {"initial_ms": 50, "max_ms": 200}});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    serde_json::from_value(settings).expect("valid test settings")
}

/// Connects and waits until the connection is up (and readiness says so).
async fn connect(config: &MqttOutboundConfig) -> MqttOutbound {
    let readiness = Readiness::default();
    let outbound = MqttOutbound::connect("telemetry", config, readiness.register("mqtt-outbound"))
        .expect("valid");
    within("the outbound to connect", outbound.connected()).await;
    assert!(readiness.report().0, "ready once connected");
    outbound
}

fn event(topic: &str, id: &str) -> Event {
    let mut cloud = CloudEvent::new(id, "/test", "com.example.reading");
    cloud.subject = Some("dev-1".into());
    cloud.datacontenttype = Some("application/json".into());
    cloud.data = Some(Data::Json(Bytes::from_static(br#"{"celsius":21.5}"#)));
    cloud
        .extensions
        .insert("seq".into(), ExtensionValue::Integer(7));
    Event::new(cloud, "http", topic)
}

fn delivery_error(error: &BoxError) -> &DeliveryError {
    DeliveryError::find(error.as_ref()).unwrap_or_else(|| panic!("not a DeliveryError: {error}"))
}

#[tokio::test]
async fn binary_mode_publishes_attributes_as_user_properties_at_every_qos() {
    require_broker().await;
    let base = unique_base();
    let mut subscriber = RawClient::connect().await;
    subscriber.subscribe(&format!("{base}/#")).await;
    for qos in [0u8, 1, 2] {
        let outbound = connect(&config(URL, serde_json::json!({"qos": qos}))).await;
        // Held as the router holds it: a boxed, cloneable, shareable sink.
        let sink: Sink = BoxCloneSyncService::new(outbound);
        let id = format!("binary-{qos}");
        sink.oneshot(event(&format!("{base}/qos{qos}"), &id))
            .await
            .expect("confirmed");

        let message = subscriber.next_publish().await;
        assert_eq!(message.topic, Bytes::from(format!("{base}/qos{qos}")));
        assert_eq!(message.qos as u8, qos);
        assert_eq!(message.payload, Bytes::from_static(br#"{"celsius":21.5}"#));
        let properties = message.properties.expect("properties");
        assert_eq!(properties.content_type.as_deref(), Some("application/json"));
        let expected = props(&[
            ("specversion", "1.0"),
            ("id", &id),
            ("source", "/test"),
            ("type", "com.example.reading"),
            ("subject", "dev-1"),
            ("seq", "7"),
        ]);
        assert_eq!(properties.user_properties, expected);
    }
}

#[tokio::test]
async fn structured_mode_publishes_the_json_format_in_both_versions() {
    require_broker().await;
    let base = unique_base();
    let mut subscriber = RawClient::connect().await;
    subscriber.subscribe(&format!("{base}/#")).await;
    for version in ["5", "3.1.1"] {
        let settings = serde_json::json!({"version": version, "mode": "structured", "topic": "{topic}/{subject}"});
        let outbound = connect(&config(URL, settings)).await;
        let sent = event(
            &format!("{base}/v{version}"),
            &format!("structured-{version}"),
        );
        outbound.oneshot(sent.clone()).await.expect("confirmed");

        let message = subscriber.next_publish().await;
        assert_eq!(
            message.topic,
            Bytes::from(format!("{base}/v{version}/dev-1"))
        );
        let received = json::decode_event(&message.payload).expect("the JSON event format");
        assert_eq!(received, sent.cloud);
        let content_type = message.properties.and_then(|p| p.content_type);
        match version {
            "5" => assert_eq!(
                content_type.as_deref(),
                Some("application/cloudevents+json")
            ),
            _ => assert_eq!(content_type, None, "3.1.1 has no properties"),
        }
    }
}

#[tokio::test]
async fn a_topic_that_cannot_be_published_is_rejected() {
    require_broker().await;
    let outbound = connect(&config(URL, serde_json::json!({"topic": "out/{subject}"}))).await;
    let mut wildcard = event("in", "wild");
    wildcard.cloud.subject = Some("a/+".into());
    let error = outbound
        .clone()
        .oneshot(wildcard)
        .await
        .expect_err("a wildcard topic");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Rejected { .. }),
        "{error}"
    );
    let mut missing = event("in", "none");
    missing.cloud.subject = None;
    let error = outbound
        .clone()
        .oneshot(missing)
        .await
        .expect_err("an empty level");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Rejected { .. }),
        "{error}"
    );
    let mut huge = event(&unique_base(), "huge");
    huge.cloud.data = Some(Data::Binary(Bytes::from(vec![0u8; 2 << 20])));
    let error = outbound
        .oneshot(huge)
        .await
        .expect_err("larger than max_packet_size");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Rejected { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_broker_fails_deliveries_fast_as_unavailable() {
    let readiness = Readiness::default();
    let settings = config("mqtt://127.0.0.1:1", serde_json::json!({}));
    let outbound =
        MqttOutbound::connect("down", &settings, readiness.register("down")).expect("valid");
    let answer = within("a fast failure", outbound.oneshot(event("t", "1"))).await;
    let error = answer.expect_err("no connection");
    assert!(
        matches!(
            delivery_error(&error),
            DeliveryError::Unavailable {
                retry_after: Some(_),
                ..
            }
        ),
        "{error}"
    );
    assert!(!readiness.report().0);
}

/// Polls `future` once (so it publishes) and checks it is still waiting.
fn still_waiting<F: Future + Unpin>(future: &mut F) {
    assert!(
        future.now_or_never().is_none(),
        "completed before its PUBACK"
    );
}

#[tokio::test]
async fn each_delivery_is_confirmed_by_the_puback_of_its_own_packet() {
    let broker = FakeBroker::start().await;
    let settings = config(
        &broker.url(),
        serde_json::json!({"confirm_timeout_ms": 1_500}),
    );
    let outbound = MqttOutbound::connect("fake", &settings, Readiness::default().register("fake"))
        .expect("valid");
    let mut connection = broker.accept().await;
    within("the outbound to connect", outbound.connected()).await;

    let mut first = Box::pin(outbound.clone().oneshot(event("a", "first")));
    still_waiting(&mut first);
    let first_pkid = connection.next_publish().await;
    let mut second = Box::pin(outbound.clone().oneshot(event("a", "second")));
    still_waiting(&mut second);
    let second_pkid = connection.next_publish().await;
    assert_ne!(first_pkid, second_pkid);

    connection.puback(second_pkid, 0x00).await;
    within("the second delivery", &mut second)
        .await
        .expect("confirmed by its PUBACK");
    still_waiting(&mut first);
    connection.puback(first_pkid, 0x87).await;
    let error = within("the first delivery", first)
        .await
        .expect_err("not authorized");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Rejected { .. }),
        "{error}"
    );

    let mut unanswered = Box::pin(outbound.clone().oneshot(event("a", "third")));
    still_waiting(&mut unanswered);
    connection.next_publish().await;
    let error = within("the timeout", unanswered)
        .await
        .expect_err("no PUBACK");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Timeout { .. }),
        "{error}"
    );

    let mut orphaned = Box::pin(outbound.clone().oneshot(event("a", "fourth")));
    still_waiting(&mut orphaned);
    connection.next_publish().await;
    drop(connection);
    let error = within("the lost connection", orphaned)
        .await
        .expect_err("outcome unknown");
    assert!(
        matches!(delivery_error(&error), DeliveryError::Unavailable { .. }),
        "{error}"
    );

    let mut reconnected = broker.accept().await;
    within("the reconnect", outbound.connected()).await;
    let mut fifth = Box::pin(outbound.oneshot(event("a", "fifth")));
    still_waiting(&mut fifth);
    let pkid = reconnected.next_publish().await;
    reconnected.puback(pkid, 0x00).await;
    within("a delivery after the reconnect", fifth)
        .await
        .expect("confirmed");
}
