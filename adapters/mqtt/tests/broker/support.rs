//! Fixtures for the tests against the real Mosquitto on 127.0.0.1:1883: a broker check that
//! fails loudly, unique topics, a scriptable pipeline that records what it is given, raw
//! rumqttc publishers and subscribers, and waits with deadlines.

use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use tokio::sync::mpsc;
use tokio::time::timeout;

use switchyard_core::pipeline::{Pipeline, Sink};
use switchyard_mqtt::MqttInboundConfig;
use switchyard_mqtt::inbound::MqttInbound;
pub use switchyard_testing::{Answer, Recorder, RunningInbound, eventually, within};

pub const BROKER: &str = "127.0.0.1:1883";
pub const URL: &str = "mqtt://127.0.0.1:1883";

/// Fails the test (in CI or not) when Mosquitto is not reachable: a skipped broker test would
/// pass silently and prove nothing.
pub async fn require_broker() {
    // Logs of the adapter under test, shown for failing tests (RUST_LOG=switchyard_mqtt=debug).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let reachable = timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(BROKER),
    )
    .await;
    assert!(
        matches!(reachable, Ok(Ok(_))),
        "Mosquitto is not reachable on {BROKER}; start it with `mosquitto -d -c /etc/mosquitto/mosquitto.conf` (these tests need a real broker)"
    );
}

/// A topic prefix no other test (or earlier run) uses.
pub fn unique_base() -> String {
    format!("switchyard-test/{}", uuid::Uuid::new_v4().simple())
}

/// Inbound settings for tests: fast retries and reconnects, a short grace period, a session
/// that expires soon after the test.
pub fn inbound_config(filter: &str, client_id: &str) -> MqttInboundConfig {
    serde_json::from_value(serde_json::json!({
        "url": URL,
        "client_id": client_id,
        "subscribe": [filter],
        "session_expiry_s": 120,
        "inflight": 16,
        "retry": {"initial_ms": 5, "max_ms": 50},
        "reconnect": {"initial_ms": 50, "max_ms": 500},
        "shutdown_grace_ms": 300,
    }))
    .expect("valid test settings")
}

/// Starts an inbound with `config` as `devices` and waits until it is subscribed.
pub async fn start_inbound(
    config: MqttInboundConfig,
    pipeline: Pipeline,
    dead_letter: Option<Sink>,
) -> RunningInbound {
    let inbound = MqttInbound::build("devices", &config).expect("a valid inbound config");
    RunningInbound::start("devices", inbound, pipeline, dead_letter).await
}

/// A raw MQTT 5 client, its events forwarded to a channel by a polling task.
pub struct RawClient {
    pub client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<Packet>,
    poller: tokio::task::JoinHandle<()>,
}

impl RawClient {
    pub async fn connect() -> Self {
        let id = format!("raw-{}", uuid::Uuid::new_v4().simple());
        let mut options = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", 1883);
        options.set_max_packet_size(Some(1 << 20));
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 1000);
        let (tx, events) = mpsc::unbounded_channel();
        let poller = tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let rumqttc::v5::Event::Incoming(packet) = event
                    && tx.send(packet).is_err()
                {
                    break;
                }
            }
        });
        let mut raw = Self {
            client,
            events,
            poller,
        };
        raw.next_matching("CONNACK", |p| matches!(p, Packet::ConnAck(_)))
            .await;
        raw
    }

    async fn next_matching(
        &mut self,
        what: &str,
        mut wanted: impl FnMut(&Packet) -> bool,
    ) -> Packet {
        within(what, async {
            loop {
                let packet = self.events.recv().await.expect("raw client connected");
                if wanted(&packet) {
                    return packet;
                }
            }
        })
        .await
    }

    /// Publishes and waits until the broker has it (PUBACK / PUBCOMP; QoS 0: sent).
    pub async fn publish(
        &mut self,
        topic: &str,
        qos: QoS,
        properties: PublishProperties,
        payload: impl Into<Bytes>,
    ) {
        self.client
            .publish_with_properties(topic, qos, false, payload.into(), properties)
            .await
            .expect("queued");
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => drop(
                self.next_matching("PUBACK", |p| matches!(p, Packet::PubAck(_)))
                    .await,
            ),
            QoS::ExactlyOnce => drop(
                self.next_matching("PUBCOMP", |p| matches!(p, Packet::PubComp(_)))
                    .await,
            ),
        }
    }

    pub async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::ExactlyOnce)
            .await
            .expect("queued");
        self.next_matching("SUBACK", |p| matches!(p, Packet::SubAck(_)))
            .await;
    }

    /// The next message received on a subscription.
    pub async fn next_publish(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        match self
            .next_matching("a message", |p| matches!(p, Packet::Publish(_)))
            .await
        {
            Packet::Publish(publish) => publish,
            _ => unreachable!("matched a publish"),
        }
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// Publishes with MQTT 3.1.1 and waits for the PUBACK.
pub async fn publish_v311(topic: &str, payload: impl Into<Vec<u8>>) {
    let id = format!("raw311-{}", uuid::Uuid::new_v4().simple());
    let (client, mut eventloop) =
        rumqttc::AsyncClient::new(rumqttc::MqttOptions::new(id, "127.0.0.1", 1883), 10);
    client
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
        .await
        .expect("queued");
    within("the 3.1.1 PUBACK", async {
        loop {
            let event = eventloop.poll().await.expect("3.1.1 client connected");
            if matches!(event, rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) {
                return;
            }
        }
    })
    .await;
}

/// User properties from pairs.
pub fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
