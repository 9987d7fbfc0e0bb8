//! The MQTT adapter against a real Mosquitto on 127.0.0.1:1883 (and, where the exact timing
//! of acknowledgements matters, against a scripted fake broker; where the broker must announce a
//! Maximum Packet Size, against a Mosquitto the test starts). Each test uses its own topics
//! and client ids, so they run in parallel and leave nothing behind that another run sees.

mod conformance;
mod fake;
mod inbound;
mod inbound_conformance;
mod outbound;
mod packet_limit;
mod reconnect;
mod support;
