//! The AMQP outbound runs the outbound conformance suite (`switchyard_testing::conformance`)
//! against the real RabbitMQ and a port where nothing listens. A peer that takes publishes but
//! never confirms needs a proxy that stalls one direction of a live AMQP connection; that is
//! the chaos proxy's job (issue 15), so `silent` is not staged here yet.

use lapin::options::BasicGetOptions;
use serde_json::json;
use tower::util::BoxCloneSyncService;

use switchyard_amqp::{AmqpOutbound, AmqpOutboundConfig};
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::pipeline::Sink;
use switchyard_testing::conformance::{OutboundFixture, check_outbound};

use crate::outbound::bound_queue;
use crate::support::{Broker, URL, unique};

struct Amqp {
    broker: Broker,
    exchange: String,
    queue: Option<String>,
    received: Vec<String>,
}

fn start(name: &str, url: &str, exchange: &str) -> (Sink, Readiness) {
    let config: AmqpOutboundConfig = serde_json::from_value(json!({
        "url": url, "exchange": exchange, "mode": "structured", "routing_key": "{topic}",
        "declare": {"name": exchange, "durable": false, "auto_delete": true},
    }))
    .expect("valid outbound config");
    let readiness = Readiness::default();
    let outbound = AmqpOutbound::connect(name, &config, readiness.register(name)).expect("builds");
    (BoxCloneSyncService::new(outbound), readiness)
}

impl OutboundFixture for Amqp {
    async fn live(&mut self) -> (Sink, Readiness) {
        self.queue = Some(bound_queue(&self.broker, &self.exchange, "#").await);
        start("live", URL, &self.exchange)
    }

    async fn received(&mut self) -> Vec<String> {
        let queue = self.queue.as_deref().expect("live() bound a queue");
        let options = BasicGetOptions { no_ack: true };
        while let Some(message) = self
            .broker
            .channel
            .basic_get(queue.into(), options)
            .await
            .expect("basic.get")
        {
            let event: serde_json::Value =
                serde_json::from_slice(&message.delivery.data).expect("structured JSON");
            self.received
                .push(event["id"].as_str().unwrap_or_default().to_owned());
        }
        self.received.clone()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        Some(start(
            "down",
            "amqp://guest:guest@127.0.0.1:1/%2f",
            &self.exchange,
        ))
    }

    async fn silent(&mut self) -> Option<Sink> {
        None
    }

    fn uncarriable(&self) -> Option<Event> {
        // A routing key is a short string: at most 255 bytes.
        let event = self.event("long-key");
        Some(Event::new(event.cloud, "conformance", "k".repeat(300)))
    }
}

#[tokio::test]
async fn the_amqp_outbound_conforms() {
    let broker = Broker::connect().await;
    let mut fixture = Amqp {
        broker,
        exchange: unique("conformance"),
        queue: None,
        received: Vec::new(),
    };
    check_outbound(&mut fixture).await;
    if let Some(queue) = &fixture.queue {
        fixture.broker.delete_queue(queue).await;
    }
    fixture.broker.delete_exchange(&fixture.exchange).await;
}
