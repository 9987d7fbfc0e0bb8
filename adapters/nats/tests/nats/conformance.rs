//! The NATS outbound and the JetStream inbound run the conformance suites
//! (`switchyard_testing::conformance`) against the real nats-server: the outbound publishing
//! to JetStream (confirmed by the PubAck) with a core subscriber reading along, a port where
//! nothing listens, and a scripted server that never confirms; the inbound on a durable
//! consumer with a 2 s `ack_wait`.

use async_nats::jetstream;
use serde_json::json;
use tower::util::BoxCloneSyncService;

use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_nats::{NatsInbound, NatsInboundConfig, NatsOutbound, NatsOutboundConfig};
use switchyard_testing::conformance::{
    InboundFixture, OutboundFixture, check_inbound, check_outbound,
};

use crate::fake::silent_server;
use crate::support::{Received, URL, client, id_of, stream_with_consumer, unique};

struct Outbound {
    base: String,
    received: Option<Received>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

fn outbound(name: &str, url: &str, base: &str, extra: serde_json::Value) -> (Sink, Readiness) {
    let mut settings =
        json!({"url": url, "subject": format!("{base}.{{topic}}"), "jetstream": true});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    let config: NatsOutboundConfig = serde_json::from_value(settings).expect("valid config");
    let readiness = Readiness::default();
    let plan = NatsOutbound::build(name, &config).expect("builds");
    let sink = BoxCloneSyncService::new(plan.connect(readiness.register(name)));
    (sink, readiness)
}

impl OutboundFixture for Outbound {
    async fn live(&mut self) -> (Sink, Readiness) {
        let client = client().await;
        let context = jetstream::new(client.clone());
        let subjects = format!("{}.>", self.base);
        stream_with_consumer(&context, &self.base, &subjects, "unused").await;
        self.received = Some(Received::subscribe(&client, &subjects, id_of).await);
        outbound("live", URL, &self.base, json!({}))
    }

    async fn received(&mut self) -> Vec<String> {
        self.received
            .as_ref()
            .map(Received::ids)
            .unwrap_or_default()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        Some(outbound(
            "down",
            "nats://127.0.0.1:1",
            &self.base,
            json!({}),
        ))
    }

    async fn silent(&mut self) -> Option<Sink> {
        let (url, server) = silent_server().await;
        self.servers.push(server);
        let (sink, readiness) = outbound(
            "silent",
            &url,
            &self.base,
            json!({"confirm_timeout_ms": 300}),
        );
        let ready = readiness.clone();
        switchyard_testing::eventually("the silent server's handshake", move || ready.report().0)
            .await;
        Some(sink)
    }

    fn uncarriable(&self) -> Option<Event> {
        let event = self.event("dotted");
        Some(Event::new(event.cloud, "conformance", "orders/eu.west"))
    }
}

#[tokio::test]
async fn the_nats_outbound_conforms() {
    let mut fixture = Outbound {
        base: unique("conf"),
        received: None,
        servers: Vec::new(),
    };
    check_outbound(&mut fixture).await;
    fixture.servers.iter().for_each(|server| server.abort());
    let context = jetstream::new(client().await);
    let _ = context.delete_stream(&fixture.base).await;
}

struct Inbound {
    base: String,
    context: jetstream::Context,
}

impl InboundFixture for Inbound {
    type Inbound = NatsInbound;

    fn inbound(&self) -> NatsInbound {
        let config: NatsInboundConfig = serde_json::from_value(json!({
            "url": URL,
            "jetstream": {"stream": self.base, "durable": "gateway"},
            "nak_delay_ms": 20,
            "shutdown_grace_ms": 300,
        }))
        .expect("valid config");
        NatsInbound::build("conformance", &config).expect("builds")
    }

    async fn publish(&mut self, id: &str) {
        let event = json!({"specversion": "1.0", "id": id, "source": "/conformance", "type": "t"});
        self.send(event.to_string().into_bytes()).await;
    }

    async fn publish_undecodable(&mut self) {
        self.send(b"{\"specversion\": \"1.0\", not json".to_vec())
            .await;
    }
}

impl Inbound {
    async fn send(&self, payload: Vec<u8>) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", "application/cloudevents+json");
        let subject = format!("{}.events", self.base);
        let ack = self
            .context
            .publish_with_headers(subject, headers, payload.into());
        ack.await.expect("published").await.expect("stored");
    }
}

#[tokio::test]
async fn the_jetstream_inbound_conforms() {
    let context = jetstream::new(client().await);
    let base = unique("conf");
    stream_with_consumer(&context, &base, &format!("{base}.>"), "gateway").await;
    let mut fixture = Inbound { base, context };
    check_inbound(&mut fixture).await;
    let _ = fixture.context.delete_stream(&fixture.base).await;
}
