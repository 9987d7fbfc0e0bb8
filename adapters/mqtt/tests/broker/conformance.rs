//! The MQTT outbound runs the outbound conformance suite (`switchyard_testing::conformance`):
//! a live Mosquitto, a port where nothing listens, and a scripted broker that never PUBACKs.

use std::time::Duration;

use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_mqtt::{MqttOutbound, MqttOutboundConfig};
use switchyard_testing::conformance::{OutboundFixture, check_outbound};
use tower::util::BoxCloneSyncService;

use crate::fake::FakeBroker;
use crate::support::*;

struct Mqtt {
    base: String,
    subscriber: Option<RawClient>,
    received: Vec<String>,
    /// Kept alive while the silent sink is under test.
    silent_broker: Option<tokio::task::JoinHandle<()>>,
}

fn config(url: &str, base: &str, extra: serde_json::Value) -> MqttOutboundConfig {
    let mut settings = serde_json::json!({
        "url": url, "topic": format!("{base}/{{topic}}"), "qos": 1, "mode": "structured",
        "reconnect": {"initial_ms": 50, "max_ms": 200},
    });
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    serde_json::from_value(settings).expect("valid test settings")
}

fn start(name: &str, config: &MqttOutboundConfig) -> (MqttOutbound, Readiness) {
    let readiness = Readiness::default();
    let outbound = MqttOutbound::connect(name, config, readiness.register(name)).expect("valid");
    (outbound, readiness)
}

impl OutboundFixture for Mqtt {
    async fn live(&mut self) -> (Sink, Readiness) {
        let mut subscriber = RawClient::connect().await;
        subscriber.subscribe(&format!("{}/#", self.base)).await;
        self.subscriber = Some(subscriber);
        let (outbound, readiness) = start("live", &config(URL, &self.base, serde_json::json!({})));
        within("the outbound to connect", outbound.connected()).await;
        (BoxCloneSyncService::new(outbound), readiness)
    }

    async fn received(&mut self) -> Vec<String> {
        let subscriber = self.subscriber.as_mut().expect("live() subscribed");
        let quiet = Duration::from_millis(50);
        while let Ok(publish) = tokio::time::timeout(quiet, subscriber.next_publish()).await {
            let event: serde_json::Value =
                serde_json::from_slice(&publish.payload).expect("structured JSON");
            self.received
                .push(event["id"].as_str().unwrap_or_default().to_owned());
        }
        self.received.clone()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        let config = config("mqtt://127.0.0.1:1", &self.base, serde_json::json!({}));
        let (outbound, readiness) = start("down", &config);
        Some((BoxCloneSyncService::new(outbound), readiness))
    }

    async fn silent(&mut self) -> Option<Sink> {
        let broker = FakeBroker::start().await;
        let extra = serde_json::json!({"confirm_timeout_ms": 300});
        let (outbound, _) = start("silent", &config(&broker.url(), &self.base, extra));
        self.silent_broker = Some(tokio::spawn(async move {
            let mut connection = broker.accept().await;
            // Takes every PUBLISH, acknowledges none.
            loop {
                connection.next_publish().await;
            }
        }));
        within("the outbound to connect", outbound.connected()).await;
        Some(BoxCloneSyncService::new(outbound))
    }

    fn uncarriable(&self) -> Option<Event> {
        let event = self.event("wildcard");
        Some(Event::new(event.cloud, "conformance", "a/+/b"))
    }
}

#[tokio::test]
async fn the_mqtt_outbound_conforms() {
    require_broker().await;
    let mut fixture = Mqtt {
        base: unique_base(),
        subscriber: None,
        received: Vec::new(),
        silent_broker: None,
    };
    check_outbound(&mut fixture).await;
    if let Some(task) = fixture.silent_broker {
        task.abort();
    }
}
