//! The AMQP inbound runs the inbound conformance suite (`switchyard_testing::conformance`)
//! against the real RabbitMQ: structured events into a queue of its own, which keeps what was
//! not acked for the next consumer.

use serde_json::json;

use switchyard_amqp::inbound::AmqpInbound;
use switchyard_testing::conformance::{InboundFixture, check_inbound};

use crate::messages::{config, structured};
use crate::support::{Broker, unique};

struct Amqp {
    broker: Broker,
    queue: String,
    exchange: String,
}

impl InboundFixture for Amqp {
    type Inbound = AmqpInbound;

    fn inbound(&self) -> AmqpInbound {
        let mut config = config(&self.queue, &self.exchange, json!({}));
        config.shutdown_grace_ms = 300;
        AmqpInbound::build("conformance", &config).expect("a valid inbound config")
    }

    async fn publish(&mut self, id: &str) {
        let event = json!({"specversion": "1.0", "id": id, "source": "/conformance", "type": "t"});
        let body = event.to_string();
        let key = "conformance.events";
        let exchange = &self.exchange;
        self.broker
            .publish(exchange, key, structured(), body.as_bytes())
            .await;
    }

    async fn publish_undecodable(&mut self) {
        let body = b"{\"specversion\": \"1.0\", not json";
        let exchange = &self.exchange;
        self.broker
            .publish(exchange, "conformance.bad", structured(), body)
            .await;
    }
}

#[tokio::test]
async fn the_amqp_inbound_conforms() {
    let mut fixture = Amqp {
        broker: Broker::connect().await,
        queue: unique("conformance-in"),
        exchange: unique("conformance-in-x"),
    };
    check_inbound(&mut fixture).await;
    fixture.broker.delete_queue(&fixture.queue).await;
}
