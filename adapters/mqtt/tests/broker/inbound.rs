//! The inbound: every binding mode arrives intact, acks follow the pipeline's confirmation
//! (checked by restarting with the same persistent session and seeing what the broker
//! redelivers), undecodable and refused messages are dead-lettered, and many concurrent
//! messages with random delays are all delivered and acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use switchyard_core::DeliveryError;
use switchyard_core::cloudevent::{Data, ExtensionValue};
use switchyard_core::settle::{REASON_EXTENSION, UNDECODABLE_TYPE};

use crate::support::*;

fn content_type(value: &str) -> PublishProperties {
    PublishProperties {
        content_type: Some(value.into()),
        ..Default::default()
    }
}

fn binary(id: &str) -> PublishProperties {
    PublishProperties {
        content_type: Some("application/json".into()),
        user_properties: props(&[
            ("specversion", "1.0"),
            ("id", id),
            ("source", "/test"),
            ("type", "com.example.test"),
        ]),
        ..Default::default()
    }
}

fn structured(id: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test","type":"com.example.test","data":{{"n":1}}}}"#
    )
}

/// Restarts an inbound on the same persistent session and returns the ids the broker
/// redelivered: it resends what was left unacknowledged right after the reconnect, so once a
/// marker published afterwards arrives, every redelivery has arrived too (and finished by the
/// time the inbound has drained).
async fn redelivered(base: &str, client_id: &str, filter: &str) -> Vec<String> {
    let recorder = Recorder::new();
    let pipeline = recorder.pipeline(|_, _| Answer::Deliver);
    let inbound = start_inbound(inbound_config(filter, client_id), pipeline, None).await;
    let mut publisher = RawClient::connect().await;
    publisher
        .publish(
            &format!("{base}/marker"),
            QoS::AtLeastOnce,
            binary("marker"),
            "{}",
        )
        .await;
    eventually("the marker", || {
        recorder.delivered().iter().any(|e| e.cloud.id == "marker")
    })
    .await;
    inbound.stop().await;
    let ids = recorder.delivered().into_iter().map(|e| e.cloud.id);
    ids.filter(|id| id != "marker").collect()
}

#[tokio::test]
async fn every_binding_mode_arrives_intact() {
    require_broker().await;
    let base = unique_base();
    let mut config = inbound_config(
        &format!("{base}/#"),
        &format!("in-{}", uuid::Uuid::new_v4()),
    );
    config.wrap.topic_pattern = Some("switchyard-test/+/sensors/{device}/temperature".into());
    config.wrap.subject = Some("{device}".into());
    let recorder = Recorder::new();
    let inbound = start_inbound(config, recorder.pipeline(|_, _| Answer::Deliver), None).await;

    let mut publisher = RawClient::connect().await;
    let mut with_extension = binary("binary-1");
    with_extension
        .user_properties
        .push(("traceparent".into(), "00-1-2-01".into()));
    publisher
        .publish(
            &format!("{base}/binary"),
            QoS::AtLeastOnce,
            with_extension,
            r#"{"celsius":21.5}"#,
        )
        .await;
    let structured_ct = content_type("application/cloudevents+json");
    publisher
        .publish(
            &format!("{base}/structured"),
            QoS::ExactlyOnce,
            structured_ct,
            structured("structured-5"),
        )
        .await;
    publish_v311(&format!("{base}/legacy"), structured("structured-311")).await;
    let sensor_topic = format!("{base}/sensors/dev-7/temperature");
    publisher
        .publish(
            &sensor_topic,
            QoS::AtLeastOnce,
            PublishProperties::default(),
            "21.5",
        )
        .await;

    let events = recorder.wait_for(4).await;
    inbound.stop().await;
    let by_topic = |suffix: &str| {
        events
            .iter()
            .find(|e| e.origin.topic.ends_with(suffix))
            .unwrap_or_else(|| panic!("no event from {suffix}: {events:#?}"))
    };
    let binary = by_topic("/binary");
    assert_eq!(
        (binary.cloud.id.as_str(), binary.cloud.ty.as_str()),
        ("binary-1", "com.example.test")
    );
    assert_eq!(
        binary.cloud.data,
        Some(Data::Json(Bytes::from_static(br#"{"celsius":21.5}"#)))
    );
    assert_eq!(
        binary.cloud.extensions["traceparent"],
        ExtensionValue::String("00-1-2-01".into())
    );
    assert_eq!(&*binary.origin.inbound, "devices");
    let structured = by_topic("/structured");
    assert_eq!(structured.cloud.id, "structured-5");
    assert_eq!(
        structured.cloud.data,
        Some(Data::Json(Bytes::from_static(br#"{"n":1}"#)))
    );
    assert_eq!(by_topic("/legacy").cloud.id, "structured-311");
    let wrapped = by_topic("/temperature");
    assert_eq!(wrapped.cloud.subject.as_deref(), Some("dev-7"));
    assert_eq!(
        wrapped.cloud.source,
        format!("mqtt://127.0.0.1:1883/{sensor_topic}")
    );
    assert_eq!(wrapped.cloud.ty, "dev.switchyard.mqtt.message");
    assert_eq!(
        wrapped.cloud.data,
        Some(Data::Json(Bytes::from_static(b"21.5")))
    );
    assert_eq!(&*wrapped.origin.topic, sensor_topic);
}

#[tokio::test]
async fn a_failing_sink_delays_the_ack_until_delivery_succeeds() {
    require_broker().await;
    let base = unique_base();
    let (filter, client_id) = (format!("{base}/#"), format!("in-{}", uuid::Uuid::new_v4()));
    let down = || DeliveryError::Unavailable {
        sink: "webhook".into(),
        reason: "down".into(),
        retry_after: Some(Duration::from_millis(5)),
    };
    let recorder = Recorder::new();
    let pipeline = recorder.pipeline(move |call, _| {
        if call.index < 6 {
            Answer::Fail(down())
        } else {
            Answer::Deliver
        }
    });
    let inbound = start_inbound(inbound_config(&filter, &client_id), pipeline, None).await;
    let mut publisher = RawClient::connect().await;
    for i in 0..3 {
        publisher
            .publish(
                &format!("{base}/m"),
                QoS::AtLeastOnce,
                binary(&format!("m{i}")),
                "{}",
            )
            .await;
    }
    let delivered = recorder.wait_for(3).await;
    inbound.stop().await;

    let ids: Vec<String> = delivered.iter().map(|e| e.cloud.id.clone()).collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        3,
        "each delivered exactly once: {ids:?}"
    );
    assert!(
        recorder.calls() >= 9,
        "6 failures were retried: {} calls",
        recorder.calls()
    );
    let again = redelivered(&base, &client_id, &filter).await;
    assert!(
        again.is_empty(),
        "all were acknowledged after delivery: {again:?}"
    );
}

#[tokio::test]
async fn an_undelivered_message_is_not_acked_and_comes_back_after_a_restart() {
    require_broker().await;
    let base = unique_base();
    let (filter, client_id) = (format!("{base}/#"), format!("in-{}", uuid::Uuid::new_v4()));
    let stuck = Recorder::new();
    let inbound = start_inbound(
        inbound_config(&filter, &client_id),
        stuck.pipeline(|_, _| Answer::Hang),
        None,
    )
    .await;
    let mut publisher = RawClient::connect().await;
    publisher
        .publish(
            &format!("{base}/m"),
            QoS::AtLeastOnce,
            binary("stuck-1"),
            "{}",
        )
        .await;
    eventually("the pipeline to be called", || stuck.calls() == 1).await;
    inbound.stop().await;
    assert!(stuck.delivered().is_empty());

    let again = redelivered(&base, &client_id, &filter).await;
    assert_eq!(
        again,
        ["stuck-1"],
        "the broker kept the unacknowledged message"
    );
}

#[tokio::test]
async fn undecodable_and_refused_messages_are_dead_lettered_with_the_reason() {
    require_broker().await;
    let base = unique_base();
    let (filter, client_id) = (format!("{base}/#"), format!("in-{}", uuid::Uuid::new_v4()));
    let rejected = || DeliveryError::Rejected {
        sink: "webhook".into(),
        reason: "410 Gone".into(),
    };
    let (recorder, dead_letters) = (Recorder::new(), Recorder::new());
    let pipeline = recorder.pipeline(move |_, event| match event.cloud.id.as_str() {
        "refuse-me" => Answer::Fail(rejected()),
        _ => Answer::Deliver,
    });
    let inbound = start_inbound(
        inbound_config(&filter, &client_id),
        pipeline,
        Some(dead_letters.sink()),
    )
    .await;
    let mut publisher = RawClient::connect().await;
    let structured_ct = || content_type("application/cloudevents+json");
    publisher
        .publish(
            &format!("{base}/bad-json"),
            QoS::AtLeastOnce,
            structured_ct(),
            "{oops",
        )
        .await;
    let bad_utf8 = Bytes::from_static(
        b"{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\",\"source\":\"/s\",\"type\":\"t\"}",
    );
    publisher
        .publish(
            &format!("{base}/bad-utf8"),
            QoS::AtLeastOnce,
            structured_ct(),
            bad_utf8.clone(),
        )
        .await;
    publisher
        .publish(
            &format!("{base}/refused"),
            QoS::AtLeastOnce,
            binary("refuse-me"),
            "{}",
        )
        .await;
    let dead = dead_letters.wait_for(3).await;
    inbound.stop().await;

    let find = |suffix: &str| {
        dead.iter()
            .find(|e| e.origin.topic.ends_with(suffix))
            .expect(suffix)
    };
    let reason = |suffix: &str| match &find(suffix).cloud.extensions[REASON_EXTENSION] {
        ExtensionValue::String(reason) => reason.clone(),
        other => panic!("reason is a string: {other:?}"),
    };
    assert_eq!(find("/bad-json").cloud.ty, UNDECODABLE_TYPE);
    assert_eq!(
        find("/bad-json").cloud.data,
        Some(Data::Binary(Bytes::from_static(b"{oops")))
    );
    assert!(!reason("/bad-json").is_empty());
    assert_eq!(find("/bad-utf8").cloud.data, Some(Data::Binary(bad_utf8)));
    assert!(!reason("/bad-utf8").is_empty());
    assert_eq!(find("/refused").cloud.id, "refuse-me");
    assert!(
        reason("/refused").contains("410 Gone"),
        "{}",
        reason("/refused")
    );
    assert!(recorder.delivered().is_empty());
    let again = redelivered(&base, &client_id, &filter).await;
    assert!(
        again.is_empty(),
        "dead-lettered messages are acknowledged: {again:?}"
    );
}

#[tokio::test]
async fn many_concurrent_messages_are_all_delivered_and_acked() {
    require_broker().await;
    const MESSAGES: usize = 200;
    let base = unique_base();
    let (filter, client_id) = (format!("{base}/#"), format!("in-{}", uuid::Uuid::new_v4()));
    let config = inbound_config(&filter, &client_id);
    let recorder = Recorder::new();
    let pipeline = recorder.pipeline(|_, _| {
        Answer::DeliverAfter(Duration::from_millis(rand::rng().random_range(0..20)))
    });
    let inbound = start_inbound(config, pipeline, None).await;
    let mut publisher = RawClient::connect().await;
    for i in 0..MESSAGES {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let topic = format!("{base}/load/{}", i % 7);
        publisher
            .publish(&topic, qos, binary(&format!("load-{i}")), "{}")
            .await;
    }
    let delivered = recorder.wait_for(MESSAGES).await;
    inbound.stop().await;

    let ids: BTreeSet<String> = delivered.iter().map(|e| e.cloud.id.clone()).collect();
    let expected: BTreeSet<String> = (0..MESSAGES).map(|i| format!("load-{i}")).collect();
    assert_eq!(ids, expected, "none lost");
    let again = redelivered(&base, &client_id, &filter).await;
    assert!(again.is_empty(), "all acknowledged: {again:?}");
}
