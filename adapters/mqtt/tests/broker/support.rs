//! Fixtures for the tests against the real Mosquitto on 127.0.0.1:1883: a broker check that
//! fails loudly, unique topics, a scriptable pipeline that records what it is given, raw
//! rumqttc publishers and subscribers, and waits with deadlines.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::{Delivered, Pipeline, Sink};
use switchyard_core::{BoxError, DeliveryError};
use switchyard_mqtt::{MqttInboundConfig, inbound};

pub const BROKER: &str = "127.0.0.1:1883";
pub const URL: &str = "mqtt://127.0.0.1:1883";
/// Generous, for a loaded 2-core machine; conditions are usually met in milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(20);

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

/// Awaits `future`, failing the test with `what` after [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Waits until `condition` holds, checking every few milliseconds, failing after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the scripted pipeline does with its n-th call (counting from 0).
#[derive(Debug, Clone)]
pub enum Answer {
    Deliver,
    DeliverAfter(Duration),
    Fail(Arc<DeliveryError>),
    Hang,
}

/// Records the events a pipeline (or sink) confirmed, and counts every call.
#[derive(Debug, Clone)]
pub struct Recorder {
    delivered: Arc<Mutex<Vec<Event>>>,
    count: watch::Sender<usize>,
    calls: Arc<AtomicUsize>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            delivered: Arc::default(),
            count: watch::channel(0).0,
            calls: Arc::default(),
        }
    }

    pub fn delivered(&self) -> Vec<Event> {
        self.delivered.lock().expect("not poisoned").clone()
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` events were confirmed, and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Event> {
        let mut count = self.count.subscribe();
        let reached = timeout(DEADLINE, count.wait_for(|c| *c >= n)).await;
        let delivered = self.delivered();
        assert!(
            reached.is_ok(),
            "timed out waiting for {n} delivered events; {} were delivered in {} calls",
            delivered.len(),
            self.calls()
        );
        delivered
    }

    async fn answer(
        &self,
        event: Event,
        script: &(dyn Fn(usize, &Event) -> Answer + Send + Sync),
    ) -> Result<(), BoxError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        match script(call, &event) {
            Answer::Deliver => {}
            Answer::DeliverAfter(delay) => tokio::time::sleep(delay).await,
            Answer::Fail(error) => return Err(Box::new(clone_error(&error))),
            Answer::Hang => std::future::pending::<()>().await,
        }
        self.delivered.lock().expect("not poisoned").push(event);
        self.count.send_modify(|c| *c += 1);
        Ok(())
    }

    /// A pipeline answering each call as `script` says.
    pub fn pipeline(
        &self,
        script: impl Fn(usize, &Event) -> Answer + Send + Sync + 'static,
    ) -> Pipeline {
        let (recorder, script) = (self.clone(), Arc::new(script));
        BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
            let (recorder, script) = (recorder.clone(), script.clone());
            async move {
                recorder.answer(event, &*script).await?;
                Ok::<_, BoxError>(Delivered { sinks: 1 })
            }
        }))
    }

    /// A sink that confirms everything.
    pub fn sink(&self) -> Sink {
        let recorder = self.clone();
        BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
            let recorder = recorder.clone();
            async move { recorder.answer(event, &|_, _| Answer::Deliver).await }
        }))
    }
}

fn clone_error(error: &DeliveryError) -> DeliveryError {
    match error {
        DeliveryError::Unavailable {
            sink,
            reason,
            retry_after,
        } => DeliveryError::Unavailable {
            sink: sink.clone(),
            reason: reason.clone(),
            retry_after: *retry_after,
        },
        DeliveryError::Rejected { sink, reason } => DeliveryError::Rejected {
            sink: sink.clone(),
            reason: reason.clone(),
        },
        _ => DeliveryError::Overloaded,
    }
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

/// A running inbound and what it takes to stop it.
pub struct RunningInbound {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningInbound {
    /// Starts the inbound and waits until it is subscribed (ready).
    pub async fn start(
        config: MqttInboundConfig,
        pipeline: Pipeline,
        dead_letter: Option<Sink>,
    ) -> Self {
        let readiness = Readiness::default();
        let ready = readiness.register("mqtt-inbound");
        let shutdown = CancellationToken::new();
        let name: Arc<str> = Arc::from("devices");
        let task = tokio::spawn(inbound::run(
            name,
            config,
            pipeline,
            dead_letter,
            ready,
            shutdown.clone(),
        ));
        eventually("the inbound to be subscribed", || readiness.report().0).await;
        Self { shutdown, task }
    }

    /// Shuts it down and waits until it has disconnected.
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the inbound to stop", self.task)
            .await
            .expect("inbound task did not panic");
    }
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
