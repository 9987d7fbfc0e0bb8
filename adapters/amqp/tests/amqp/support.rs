//! Fixtures: the broker (a clear failure when it is down), unique names, a raw lapin client
//! for publishing and reading back, a scriptable test pipeline and dead-letter sink, and
//! condition waits with deadlines.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

use switchyard_amqp::AmqpInboundConfig;
use switchyard_amqp::inbound::AmqpInbound;
use switchyard_core::DeliveryError;
use switchyard_core::event::Event;
use switchyard_core::pipeline::{Pipeline, Sink};
pub use switchyard_testing::{Recorder, RunningInbound, eventually, poll_some};

pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

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

/// A pipeline that records into `recorder` and answers as `behaviour` says for an event's
/// `attempt`-th delivery (from 1).
pub fn pipeline(
    recorder: Recorder,
    behaviour: impl Fn(&Event, usize) -> Result<(), DeliveryError> + Send + Sync + 'static,
) -> Pipeline {
    recorder.pipeline(move |call, event| behaviour(event, call.attempt).into())
}

/// A dead-letter sink that records what it gets and confirms it.
pub fn sink(recorder: Recorder) -> Sink {
    recorder.sink()
}

/// A pipeline that always succeeds.
pub fn accepting(recorder: Recorder) -> Pipeline {
    recorder.accepting()
}

/// Starts an inbound with `config` under a unique name (so its connection can be told apart
/// from other tests' in the broker) and waits until it consumes.
pub async fn start_inbound(
    config: AmqpInboundConfig,
    pipeline: Pipeline,
    dead_letter: Option<Sink>,
) -> RunningInbound {
    let name = unique("in");
    let inbound = AmqpInbound::build(&name, &config).expect("a valid inbound config");
    RunningInbound::start(&name, inbound, pipeline, dead_letter).await
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
