//! The AMQP adapter against a real RabbitMQ on 127.0.0.1:5672 (guest/guest). The tests fail,
//! never skip, when it is not running. Every test uses its own exchanges and queues, which
//! expire on their own if a test dies before deleting them.

#[path = "amqp/conformance.rs"]
mod conformance;
#[path = "amqp/dead_letter.rs"]
mod dead_letter;
#[path = "amqp/inbound.rs"]
mod inbound;
#[path = "amqp/inbound_conformance.rs"]
mod inbound_conformance;
#[path = "amqp/messages.rs"]
mod messages;
#[path = "amqp/outbound.rs"]
mod outbound;
#[path = "amqp/support.rs"]
mod support;
