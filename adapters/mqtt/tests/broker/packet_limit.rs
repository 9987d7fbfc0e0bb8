//! The outbound against a Mosquitto of its own that announces a Maximum Packet Size in its
//! CONNACK (the machine's broker on 1883 announces none): a publish over it is refused alone,
//! and the connection, and every other publish, carry on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use switchyard_core::DeliveryError;
use switchyard_core::cloudevent::{CloudEvent, Data};
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_mqtt::{MqttOutbound, MqttOutboundConfig};
use tower::ServiceExt;

use crate::support::{eventually, within};

/// The limit the test broker announces; below the outbound's own `max_packet_size` (1 MiB).
const BROKER_MAX_PACKET_SIZE: u32 = 8192;

/// A Mosquitto process on a free local port, stopped (by its own pid) when dropped.
struct LimitedMosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl LimitedMosquitto {
    async fn start(max_packet_size: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "switchyard-mosquitto-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a config directory");
        let config = dir.join("mosquitto.conf");
        let settings = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size {max_packet_size}\n"
        );
        std::fs::write(&config, settings).expect("write the config");
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (the tests need the mosquitto binary)");
        let broker = Self { child, port, dir };
        eventually("the test Mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        broker
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for LimitedMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `mosquitto` on the PATH, or where Debian installs it (/usr/sbin is not on every PATH).
fn mosquitto() -> PathBuf {
    let installed = PathBuf::from("/usr/sbin/mosquitto");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("mosquitto")
    }
}

fn event(id: &str, data_len: usize) -> Event {
    let mut cloud = CloudEvent::new(id, "/test", "com.example.reading");
    cloud.data = Some(Data::Binary(Bytes::from(vec![7u8; data_len])));
    Event::new(cloud, "http", "limited/readings")
}

#[tokio::test]
async fn a_publish_over_the_brokers_maximum_packet_size_is_refused_and_the_connection_stays_up() {
    let broker = LimitedMosquitto::start(BROKER_MAX_PACKET_SIZE).await;
    let config: MqttOutboundConfig = serde_json::from_value(serde_json::json!({
        "url": broker.url(), "qos": 1, "reconnect": {"initial_ms": 50, "max_ms": 200},
    }))
    .expect("valid test settings");
    let readiness = Readiness::default();
    let outbound =
        MqttOutbound::connect("limited", &config, readiness.register("limited")).expect("valid");
    within("the outbound to connect", outbound.connected()).await;

    // Under the outbound's own 1 MiB limit, over the broker's.
    let error = outbound
        .clone()
        .oneshot(event("big", 20_000))
        .await
        .expect_err("over the broker's Maximum Packet Size");
    match DeliveryError::find(error.as_ref()) {
        Some(DeliveryError::Rejected { reason, .. }) => assert!(
            reason.contains(&format!(
                "Maximum Packet Size ({BROKER_MAX_PACKET_SIZE} bytes"
            )),
            "{reason}"
        ),
        other => panic!("expected Rejected, got {other:?}: {error}"),
    }
    assert!(outbound.is_connected(), "the connection was not dropped");
    assert!(readiness.report().0, "still ready");

    // The same connection takes the next publish; the broker confirms it.
    outbound
        .clone()
        .oneshot(event("small", 1000))
        .await
        .expect("confirmed by the broker");
    assert!(readiness.report().0, "ready throughout");
}
