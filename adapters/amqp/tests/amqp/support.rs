//! Fixtures: the broker (a clear failure when it is down), unique names, a raw lapin client
//! for publishing and reading back, a scriptable test pipeline and dead-letter sink, and
//! condition waits with deadlines.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneSyncService;

use switchyard_amqp::AmqpInboundConfig;
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::{Delivered, Pipeline, Sink};
use switchyard_core::{BoxError, DeliveryError};

pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Deadline for every condition a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Test queues delete themselves this long after their last use, even if a test panics
/// before cleaning up.
pub const QUEUE_EXPIRES_MS: u32 = 60_000;

/// A name no other test (or earlier run) uses.
pub fn unique(what: &str) -> String {
    format!("switchyard-test-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// A raw lapin client, standing in for other applications on the broker.
pub struct Broker {
    _connection: Connection,
    pub channel: Channel,
}

impl Broker {
    /// Connects, failing the test with instructions when RabbitMQ is not running.
    pub async fn connect() -> Self {
        let connecting = Connection::connect(URL, ConnectionProperties::default());
        let connection = match tokio::time::timeout(Duration::from_secs(10), connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => panic!(
                "RabbitMQ is not reachable at {URL} ({e}); these tests need it: start it with \
                 `rabbitmq-server -detached` and wait for port 5672"
            ),
            Err(_) => panic!("RabbitMQ at {URL} did not answer within 10 s; is it running?"),
        };
        let channel = connection.create_channel().await.expect("open a channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        Self {
            _connection: connection,
            channel,
        }
    }

    /// Declares a temporary queue with extra `arguments`.
    pub async fn queue(&self, name: &str, mut arguments: FieldTable) {
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::from(QUEUE_EXPIRES_MS)),
        );
        let options = QueueDeclareOptions::default();
        self.channel
            .queue_declare(name.into(), options, arguments)
            .await
            .expect("declare queue");
    }

    /// Publishes and waits for the broker's confirm, so the message is queued on return.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        properties: BasicProperties,
        body: &[u8],
    ) {
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert_eq!(
            confirm,
            Confirmation::Ack(None),
            "the test message was not routed to a queue"
        );
    }

    /// Ready messages in `queue` (not counting those delivered and unacked).
    pub async fn ready_count(&self, queue: &str) -> u32 {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = self
            .channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await;
        declared.expect("queue exists").message_count()
    }

    /// Takes one message from `queue`, waiting until one is there.
    pub async fn get(&self, queue: &str) -> lapin::message::BasicGetMessage {
        let channel = self.channel.clone();
        let queue = queue.to_owned();
        poll_some("a message in the queue", move || {
            let (channel, queue) = (channel.clone(), queue.clone());
            async move {
                let options = BasicGetOptions { no_ack: true };
                channel
                    .basic_get(queue.as_str().into(), options)
                    .await
                    .expect("basic.get")
            }
        })
        .await
    }

    pub async fn delete_queue(&self, name: &str) {
        let _ = self
            .channel
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await;
    }

    pub async fn delete_exchange(&self, name: &str) {
        let _ = self
            .channel
            .exchange_delete(name.into(), ExchangeDeleteOptions::default())
            .await;
    }
}

/// Polls `check` until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn poll_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let polling = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    match tokio::time::timeout(DEADLINE, polling).await {
        Ok(found) => found,
        Err(_) => panic!("timed out after {DEADLINE:?} waiting for {what}"),
    }
}

/// Waits until `condition` holds, failing the test after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    poll_some(what, || std::future::ready(condition().then_some(()))).await;
}

/// What the test pipeline answers for an event on its `attempt`-th delivery (from 1).
pub type Behaviour = dyn Fn(&Event, usize) -> Result<(), DeliveryError> + Send + Sync;

/// Records what the test pipeline (or sink) saw.
#[derive(Default)]
pub struct Recorder {
    /// Events the pipeline answered `Ok` for, in order.
    pub delivered: Mutex<Vec<Event>>,
    /// Calls per event id, failed ones included.
    pub attempts: Mutex<HashMap<String, usize>>,
    /// Calls begun, including ones still waiting at the gate.
    pub started: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// When set, each call waits for a permit first: lets a test hold calls in flight.
    pub gate: Option<Semaphore>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A recorder whose calls block until the test adds permits to `gate`.
    pub fn gated() -> Arc<Self> {
        Arc::new(Self {
            gate: Some(Semaphore::new(0)),
            ..Self::default()
        })
    }

    pub fn delivered(&self) -> Vec<Event> {
        self.delivered.lock().expect("lock").clone()
    }

    pub fn delivered_count(&self) -> usize {
        self.delivered.lock().expect("lock").len()
    }

    pub fn attempts(&self, id: &str) -> usize {
        self.attempts
            .lock()
            .expect("lock")
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    async fn call(&self, event: Event, behaviour: &Behaviour) -> Result<(), BoxError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        let attempt = {
            let mut attempts = self.attempts.lock().expect("lock");
            let count = attempts.entry(event.cloud.id.clone()).or_default();
            *count += 1;
            *count
        };
        let result = behaviour(&event, attempt);
        if result.is_ok() {
            self.delivered.lock().expect("lock").push(event);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result.map_err(|e| Box::new(e) as BoxError)
    }
}

/// A pipeline that records into `recorder` and answers as `behaviour` says.
pub fn pipeline(
    recorder: Arc<Recorder>,
    behaviour: impl Fn(&Event, usize) -> Result<(), DeliveryError> + Send + Sync + 'static,
) -> Pipeline {
    let behaviour: Arc<Behaviour> = Arc::new(behaviour);
    BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
        let (recorder, behaviour) = (recorder.clone(), behaviour.clone());
        async move {
            recorder.call(event, behaviour.as_ref()).await?;
            Ok::<_, BoxError>(Delivered { sinks: 1 })
        }
    }))
}

/// A dead-letter sink that records what it gets and confirms it.
pub fn sink(recorder: Arc<Recorder>) -> Sink {
    BoxCloneSyncService::new(tower::service_fn(move |event: Event| {
        let recorder = recorder.clone();
        async move { recorder.call(event, &|_, _| Ok(())).await }
    }))
}

/// A pipeline that always succeeds.
pub fn accepting(recorder: Arc<Recorder>) -> Pipeline {
    pipeline(recorder, |_, _| Ok(()))
}

/// A running inbound.
pub struct RunningInbound {
    /// Unique, so its connection can be told apart from other tests' in the broker.
    pub name: String,
    pub readiness: Readiness,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningInbound {
    /// Starts `config` and waits until it consumes.
    pub async fn start(
        config: AmqpInboundConfig,
        pipeline: Pipeline,
        dead_letter: Option<Sink>,
    ) -> Self {
        let readiness = Readiness::default();
        let ready = readiness.register("amqp-inbound");
        let shutdown = CancellationToken::new();
        let name = unique("in");
        let task = tokio::spawn(switchyard_amqp::inbound::run(
            Arc::from(name.as_str()),
            config,
            pipeline,
            dead_letter,
            ready,
            shutdown.clone(),
        ));
        let running = Self {
            name,
            readiness,
            shutdown,
            task,
        };
        running.wait_ready(true).await;
        running
    }

    pub async fn wait_ready(&self, ready: bool) {
        let readiness = self.readiness.clone();
        eventually(&format!("inbound ready = {ready}"), move || {
            readiness.report().0 == ready
        })
        .await;
    }

    /// Shuts the inbound down and waits until it has settled everything and closed.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("inbound stops in time")
            .expect("inbound task did not panic");
    }
}

/// Closes the broker side of every connection whose name contains `name_part`, as a broker
/// restart or a network failure would. Returns how many were closed.
pub fn close_connections(name_part: &str) -> usize {
    // The table format prints pids the way `close_connection` takes them (the JSON one does
    // not): `<rabbit@host.1.2.3>`, a tab, then the client properties.
    let output = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "pid", "client_properties", "--silent"])
        .output()
        .expect("run rabbitmqctl");
    let listed = String::from_utf8_lossy(&output.stdout);
    let mut closed = 0;
    for line in listed.lines().filter(|line| line.contains(name_part)) {
        let pid = line.split('\t').next().expect("a pid column");
        let output = std::process::Command::new("rabbitmqctl")
            .args([
                "close_connection",
                pid,
                "test: simulated failure",
                "--quiet",
            ])
            .output()
            .expect("run rabbitmqctl");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "rabbitmqctl close_connection {pid} failed: {stderr}"
        );
        closed += 1;
    }
    closed
}
