//! The inbound across a lost connection: it reconnects with backoff, resumes its session and
//! subscriptions, and goes on delivering.

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;

use crate::support::*;

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

#[tokio::test]
async fn reconnects_and_resumes_after_losing_the_connection() {
    require_broker().await;
    let base = unique_base();
    let (filter, client_id) = (format!("{base}/#"), format!("in-{}", uuid::Uuid::new_v4()));
    let recorder = Recorder::new();
    let inbound = start_inbound(
        inbound_config(&filter, &client_id),
        recorder.pipeline(|_, _| Answer::Deliver),
        None,
    )
    .await;
    let mut publisher = RawClient::connect().await;
    publisher
        .publish(
            &format!("{base}/m"),
            QoS::AtLeastOnce,
            binary("before"),
            "{}",
        )
        .await;
    recorder.wait_for(1).await;

    // Another client with the same id takes the session over: the broker drops the inbound's
    // connection. It keeps the session (and its subscription) when the intruder leaves.
    kick(&client_id).await;
    publisher
        .publish(
            &format!("{base}/m"),
            QoS::AtLeastOnce,
            binary("after"),
            "{}",
        )
        .await;
    let delivered = recorder.wait_for(2).await;
    inbound.stop().await;
    assert!(
        delivered.iter().any(|e| e.cloud.id == "after"),
        "{delivered:#?}"
    );
}

/// Connects with `client_id` (taking its session over), then leaves the session to expire
/// later, as the inbound's own connections do.
async fn kick(client_id: &str) {
    let mut options = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", 1883);
    options
        .set_clean_start(false)
        .set_session_expiry_interval(Some(120));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 10);
    within("the takeover", async {
        loop {
            let event = eventloop.poll().await.expect("takeover connection");
            if let rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(_)) =
                event
            {
                break;
            }
        }
    })
    .await;
    client.disconnect().await.expect("queued");
    within("the intruder to leave", async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
}
