//! One MQTT connection, MQTT 5 or 3.1.1, behind the few operations the inbound and the
//! outbound use. rumqttc's v5 and v4 clients share no types, so the version is matched here
//! once and nowhere else; everything above speaks of [`Polled`] events.

mod message;

use std::time::Duration;

use rumqttc::v5;
use rumqttc::v5::mqttbytes::v5 as packet5;

use crate::config::{BrokerAddress, MQTT_MAX_PACKET_SIZE, MqttVersion};
use crate::convert::Encoded;
use crate::error::{ConnectionError, RequestRefused};
use switchyard_core::secret::Secret;

/// The user name and password to connect with, both inbound and outbound: the password is
/// read out of its [`Secret`] only here, where it is handed to rumqttc.
pub fn credentials(
    username: Option<&String>,
    password: Option<&Secret>,
) -> Option<(String, Secret)> {
    let password = password.cloned().unwrap_or_default();
    username.map(|user| (user.clone(), password))
}

pub use message::Message;

/// What a connection is opened with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub address: BrokerAddress,
    /// For `mqtts://`: the TLS client config.
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    pub client_id: String,
    pub version: MqttVersion,
    pub keep_alive: Duration,
    pub clean_start: bool,
    /// MQTT 5 only.
    pub session_expiry_s: u32,
    /// Largest packet we accept (MQTT 5 tells the broker) and send (3.1.1; with MQTT 5
    /// rumqttc enforces the limit the broker announces, and the outbound checks both before
    /// publishing).
    pub max_packet_size: u32,
    /// MQTT 5 Receive Maximum: QoS 1/2 messages the broker may send before we acknowledge.
    pub receive_maximum: Option<u16>,
    /// Our QoS 1/2 publishes awaiting the broker's acknowledgement at once.
    pub outgoing_inflight: u16,
    /// Acknowledge received messages ourselves, once they are delivered.
    pub manual_acks: bool,
    /// User name and password; the password is redacted in `Debug`.
    pub credentials: Option<(String, Secret)>,
    /// Capacity of rumqttc's request queue (publishes, acks, subscribes): requests beyond it
    /// are refused, which is the backpressure.
    pub request_capacity: usize,
}

/// The event an adapter acts on, whatever the protocol version.
#[derive(Debug)]
pub enum Polled {
    /// The broker accepted the connection. `max_packet_size` is the largest packet it takes
    /// (MQTT 5 CONNACK's Maximum Packet Size; none said: no limit but the protocol's): rumqttc
    /// fails the whole connection over a larger publish rather than refusing that one.
    Connected {
        session_present: bool,
        max_packet_size: Option<u32>,
    },
    /// A message arrived on a subscription.
    Message(Message),
    /// The broker answered a subscribe; `refused` lists the filters it turned down.
    Subscribed { refused: Vec<String> },
    /// One of our publishes was written; QoS 0 publishes have packet id 0.
    Sent { pkid: u16 },
    /// One of our publishes got a packet id still in use and waits for it to be acknowledged;
    /// it is written (and reported as [`Polled::Sent`]) once that happens.
    Collided { pkid: u16 },
    /// The broker took responsibility for our publish (PUBACK, or PUBCOMP for QoS 2).
    Confirmed { pkid: u16 },
    /// The broker refused our publish with a reason code of 0x80 or more; `transient` when
    /// the reason may clear (quota exceeded).
    Refused {
        pkid: u16,
        reason: String,
        transient: bool,
    },
    /// Our DISCONNECT was written.
    Disconnecting,
    /// Anything else (pings, our acks).
    Other,
}

/// Sends requests to the connection's event loop.
#[derive(Debug, Clone)]
pub enum Client {
    V5(v5::AsyncClient),
    V311(rumqttc::AsyncClient),
}

/// Drives the connection; must be polled continuously.
pub enum EventLoop {
    V5(Box<v5::EventLoop>),
    V311(Box<rumqttc::EventLoop>),
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop").finish_non_exhaustive()
    }
}

/// Creates the client and its event loop; nothing connects until the event loop is polled.
pub fn open(settings: &Settings) -> (Client, EventLoop) {
    match settings.version {
        MqttVersion::V5 => open_v5(settings),
        MqttVersion::V311 => open_v311(settings),
    }
}

fn open_v5(settings: &Settings) -> (Client, EventLoop) {
    let Settings {
        address, client_id, ..
    } = settings;
    let mut options = v5::MqttOptions::new(client_id, &address.host, address.port);
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_start(settings.clean_start)
        .set_session_expiry_interval(Some(settings.session_expiry_s))
        .set_max_packet_size(Some(settings.max_packet_size))
        .set_receive_maximum(settings.receive_maximum)
        .set_outgoing_inflight_upper_limit(settings.outgoing_inflight)
        .set_manual_acks(settings.manual_acks);
    if let Some((username, password)) = &settings.credentials {
        options.set_credentials(username, password.expose());
    }
    if let Some(tls) = transport(settings) {
        options.set_transport(tls);
    }
    options.set_network_options(no_delay());
    let (client, events) = v5::AsyncClient::new(options, settings.request_capacity);
    (Client::V5(client), EventLoop::V5(Box::new(events)))
}

fn open_v311(settings: &Settings) -> (Client, EventLoop) {
    let Settings {
        address, client_id, ..
    } = settings;
    let mut options = rumqttc::MqttOptions::new(client_id, &address.host, address.port);
    // 3.1.1 cannot tell the broker our limit, and a packet over rumqttc's limit fails the
    // connection; the broker would then redeliver it forever. So accept any size here and let
    // the inbound dead-letter an oversized message instead.
    let incoming = MQTT_MAX_PACKET_SIZE as usize;
    options
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(settings.clean_start)
        .set_max_packet_size(incoming, settings.max_packet_size as usize)
        .set_inflight(settings.outgoing_inflight.max(1))
        .set_manual_acks(settings.manual_acks);
    if let Some((username, password)) = &settings.credentials {
        options.set_credentials(username, password.expose());
    }
    if let Some(tls) = transport(settings) {
        options.set_transport(tls);
    }
    let (client, mut events) = rumqttc::AsyncClient::new(options, settings.request_capacity);
    events.set_network_options(no_delay());
    (Client::V311(client), EventLoop::V311(Box::new(events)))
}

/// `TCP_NODELAY`: a PUBLISH, its PUBACK and a reply go out at once. With Nagle on, a small
/// packet waits for the ACK of the previous one, which the peer delays up to 40 ms (measured:
/// MQTT request-reply round trips of 44-88 ms instead of under 1 ms).
fn no_delay() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

/// TLS for an `mqtts://` broker. A TLS url whose config could not be loaded (a file gone
/// since `check`) gets rumqttc's default TLS (the system's roots), never plaintext.
fn transport(settings: &Settings) -> Option<rumqttc::Transport> {
    if !settings.address.tls {
        return None;
    }
    Some(match settings.tls.clone() {
        Some(config) => {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config))
        }
        None => rumqttc::Transport::tls_with_default_config(),
    })
}

impl Client {
    /// Subscribes to every filter at `qos`.
    pub fn try_subscribe(&self, filters: &[String], qos: u8) -> Result<(), RequestRefused> {
        match self {
            Self::V5(client) => {
                let filters = filters.iter().map(|f| packet5::Filter::new(f, qos5(qos)));
                Ok(client.try_subscribe_many(filters)?)
            }
            Self::V311(client) => {
                let filters = filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos4(qos)));
                Ok(client.try_subscribe_many(filters)?)
            }
        }
    }

    /// Acknowledges `message` (PUBACK for QoS 1, PUBREC for QoS 2; nothing for QoS 0).
    pub fn try_ack(&self, message: &Message) -> Result<(), RequestRefused> {
        match (self, message) {
            (Self::V5(client), Message::V5(publish)) => Ok(client.try_ack(publish)?),
            (Self::V311(client), Message::V311(publish)) => Ok(client.try_ack(publish)?),
            _ => Err(RequestRefused),
        }
    }

    /// Queues a publish; MQTT 3.1.1 drops the message properties, which it cannot carry.
    pub fn try_publish(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        message: Encoded,
    ) -> Result<(), RequestRefused> {
        match self {
            Self::V5(client) => {
                let properties = packet5::PublishProperties {
                    content_type: message.content_type,
                    user_properties: message.user_properties,
                    response_topic: message.response_topic,
                    correlation_data: message.correlation_data,
                    ..Default::default()
                };
                let payload = message.payload;
                Ok(client.try_publish_with_properties(
                    topic,
                    qos5(qos),
                    retain,
                    payload,
                    properties,
                )?)
            }
            Self::V311(client) => {
                Ok(client.try_publish(topic, qos4(qos), retain, message.payload)?)
            }
        }
    }

    /// Publishes a plain payload, waiting for room in the request queue (backpressure).
    pub async fn publish(
        &self,
        topic: &str,
        qos: u8,
        payload: bytes::Bytes,
    ) -> Result<(), RequestRefused> {
        match self {
            Self::V5(client) => Ok(client.publish(topic, qos5(qos), false, payload).await?),
            Self::V311(client) => Ok(client.publish(topic, qos4(qos), false, payload).await?),
        }
    }

    /// Queues a DISCONNECT.
    pub fn try_disconnect(&self) -> Result<(), RequestRefused> {
        match self {
            Self::V5(client) => Ok(client.try_disconnect()?),
            Self::V311(client) => Ok(client.try_disconnect()?),
        }
    }
}

impl EventLoop {
    /// Drives the connection until the next event; after an error, the next call reconnects.
    pub async fn poll(&mut self) -> Result<Polled, ConnectionError> {
        match self {
            Self::V5(events) => Ok(message::from_v5(events.poll().await?)),
            Self::V311(events) => Ok(message::from_v311(events.poll().await?)),
        }
    }

    /// Forgets everything the failed connection left behind: requests still queued and
    /// rumqttc's list of packets to resend. Callers have already failed (outbound) or given up
    /// on (inbound) each of them, so resending after the reconnect would only confuse the
    /// correlation of acknowledgements, or acknowledge redelivered messages out of order.
    pub fn forget_pending(&mut self) {
        match self {
            Self::V5(events) => {
                events.clean();
                events.pending.clear();
            }
            Self::V311(events) => {
                events.clean();
                events.pending.clear();
            }
        }
    }
}

fn qos5(qos: u8) -> v5::mqttbytes::QoS {
    match qos {
        0 => v5::mqttbytes::QoS::AtMostOnce,
        1 => v5::mqttbytes::QoS::AtLeastOnce,
        _ => v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn qos4(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}
