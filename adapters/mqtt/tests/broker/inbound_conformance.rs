//! The MQTT inbound runs the inbound conformance suite (`switchyard_testing::conformance`)
//! against the real Mosquitto: QoS 1 structured events on a topic of its own, under a client
//! id whose persistent session carries unacknowledged messages across restarts.

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;

use switchyard_mqtt::inbound::MqttInbound;
use switchyard_testing::conformance::{InboundFixture, check_inbound};

use crate::support::*;

struct Mqtt {
    base: String,
    client_id: String,
    publisher: RawClient,
}

impl Mqtt {
    async fn send(&mut self, payload: Vec<u8>) {
        let properties = PublishProperties {
            content_type: Some("application/cloudevents+json".into()),
            ..PublishProperties::default()
        };
        let topic = format!("{}/events", self.base);
        self.publisher
            .publish(&topic, QoS::AtLeastOnce, properties, payload)
            .await;
    }
}

impl InboundFixture for Mqtt {
    type Inbound = MqttInbound;

    fn inbound(&self) -> MqttInbound {
        let config = inbound_config(&format!("{}/#", self.base), &self.client_id);
        MqttInbound::build("conformance", &config).expect("a valid inbound config")
    }

    async fn publish(&mut self, id: &str) {
        let event = serde_json::json!({
            "specversion": "1.0", "id": id, "source": "/conformance", "type": "t",
        });
        self.send(event.to_string().into_bytes()).await;
    }

    async fn publish_undecodable(&mut self) {
        self.send(b"{\"specversion\": \"1.0\", not json".to_vec())
            .await;
    }
}

#[tokio::test]
async fn the_mqtt_inbound_conforms() {
    require_broker().await;
    let mut fixture = Mqtt {
        base: unique_base(),
        client_id: format!("conformance-{}", uuid::Uuid::new_v4().simple()),
        publisher: RawClient::connect().await,
    };
    check_inbound(&mut fixture).await;
}
