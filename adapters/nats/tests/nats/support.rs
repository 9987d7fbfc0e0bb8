//! Fixtures: the server (a clear failure when it is down), unique names, JetStream streams and
//! durable consumers, and a core subscriber that records what arrives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;

pub const URL: &str = "nats://127.0.0.1:4222";

/// Connects, failing the test loudly when nats-server is not running.
pub async fn client() -> async_nats::Client {
    let connected = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(URL)).await;
    match connected {
        Ok(Ok(client)) => client,
        _ => panic!(
            "nats-server is not reachable on {URL}; start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server` (these tests need a real server)"
        ),
    }
}

/// A name no other test (or earlier run) uses; NATS names cannot hold `-` in subjects we
/// build, so it is alphanumeric.
pub fn unique(what: &str) -> String {
    format!("{what}{}", uuid::Uuid::new_v4().simple())
}

/// A stream capturing `subjects`, and a durable pull consumer of it with a short `ack_wait`.
pub async fn stream_with_consumer(
    context: &jetstream::Context,
    name: &str,
    subjects: &str,
    durable: &str,
) {
    let config = stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects.to_owned()],
        max_age: Duration::from_secs(600),
        ..stream::Config::default()
    };
    let created = context
        .create_stream(config)
        .await
        .expect("create the stream");
    let consumer = pull::Config {
        durable_name: Some(durable.to_owned()),
        ack_wait: Duration::from_secs(2),
        ..pull::Config::default()
    };
    created
        .create_consumer(consumer)
        .await
        .expect("create the consumer");
}

/// A core subscriber on `subject` that records what arrives (decoded by `id_of`).
pub struct Received {
    ids: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Received {
    pub async fn subscribe(
        client: &async_nats::Client,
        subject: &str,
        id_of: fn(&async_nats::Message) -> String,
    ) -> Self {
        let mut subscriber = client
            .subscribe(subject.to_owned())
            .await
            .expect("subscribe");
        client
            .flush()
            .await
            .expect("the subscription is registered");
        let ids = Arc::new(Mutex::new(Vec::new()));
        let recorded = ids.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                recorded.lock().expect("not poisoned").push(id_of(&message));
            }
        });
        Self { ids, task }
    }

    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().expect("not poisoned").clone()
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `ce-id` header of a binary-mode message, else the `id` of a structured one.
pub fn id_of(message: &async_nats::Message) -> String {
    if let Some(id) = message.headers.as_ref().and_then(|h| h.get("ce-id")) {
        return id.as_str().to_owned();
    }
    serde_json::from_slice::<serde_json::Value>(&message.payload)
        .ok()
        .and_then(|event| event["id"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
