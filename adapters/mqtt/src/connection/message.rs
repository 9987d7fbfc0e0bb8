//! Received messages and rumqttc's events, in both protocol versions, mapped onto the shapes
//! the adapters use.

use bytes::Bytes;
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::v5 as packet5;

use super::Polled;

/// A message received on a subscription, kept whole because acknowledging it needs it.
#[derive(Debug)]
pub enum Message {
    V5(packet5::Publish),
    V311(rumqttc::Publish),
}

impl Message {
    /// The topic; MQTT requires UTF-8, but a broker could still send anything.
    pub fn topic(&self) -> Result<&str, std::str::Utf8Error> {
        match self {
            Self::V5(publish) => std::str::from_utf8(&publish.topic),
            Self::V311(publish) => Ok(&publish.topic),
        }
    }

    pub fn payload(&self) -> &Bytes {
        match self {
            Self::V5(publish) => &publish.payload,
            Self::V311(publish) => &publish.payload,
        }
    }

    /// 0, 1 or 2.
    pub fn qos(&self) -> u8 {
        match self {
            Self::V5(publish) => publish.qos as u8,
            Self::V311(publish) => publish.qos as u8,
        }
    }

    /// The Content Type property (MQTT 5).
    pub fn content_type(&self) -> Option<&str> {
        match self {
            Self::V5(publish) => publish.properties.as_ref()?.content_type.as_deref(),
            Self::V311(_) => None,
        }
    }

    /// The Correlation Data property (MQTT 5).
    pub fn correlation_data(&self) -> Option<&Bytes> {
        match self {
            Self::V5(publish) => publish.properties.as_ref()?.correlation_data.as_ref(),
            Self::V311(_) => None,
        }
    }

    /// The user properties (MQTT 5).
    pub fn user_properties(&self) -> &[(String, String)] {
        match self {
            Self::V5(publish) => publish
                .properties
                .as_ref()
                .map_or(&[], |p| p.user_properties.as_slice()),
            Self::V311(_) => &[],
        }
    }
}

pub(super) fn from_v5(event: rumqttc::v5::Event) -> Polled {
    use packet5::{Packet, SubscribeReasonCode};
    let incoming = match event {
        rumqttc::v5::Event::Outgoing(outgoing) => return from_outgoing(outgoing),
        rumqttc::v5::Event::Incoming(incoming) => incoming,
    };
    match incoming {
        Packet::ConnAck(connack) => Polled::Connected {
            session_present: connack.session_present,
            max_packet_size: connack.properties.and_then(|p| p.max_packet_size),
        },
        Packet::Publish(publish) => Polled::Message(Message::V5(publish)),
        Packet::SubAck(suback) => Polled::Subscribed {
            refused: suback
                .return_codes
                .iter()
                .filter(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                .map(|code| format!("{code:?}"))
                .collect(),
        },
        ack => from_v5_ack(ack),
    }
}

/// The broker's answers to our publishes, with their MQTT 5 reason codes.
fn from_v5_ack(packet: packet5::Packet) -> Polled {
    use packet5::{Packet, PubAckReason, PubCompReason, PubRecReason};
    let refused = |pkid, reason: String, transient| Polled::Refused {
        pkid,
        reason,
        transient,
    };
    match packet {
        Packet::PubAck(puback) => match puback.reason {
            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
                Polled::Confirmed { pkid: puback.pkid }
            }
            reason => refused(
                puback.pkid,
                format!("PUBACK {reason:?}"),
                reason == PubAckReason::QuotaExceeded,
            ),
        },
        Packet::PubRec(pubrec) => match pubrec.reason {
            PubRecReason::Success | PubRecReason::NoMatchingSubscribers => Polled::Other,
            reason => refused(
                pubrec.pkid,
                format!("PUBREC {reason:?}"),
                reason == PubRecReason::QuotaExceeded,
            ),
        },
        Packet::PubComp(pubcomp) => match pubcomp.reason {
            PubCompReason::Success => Polled::Confirmed { pkid: pubcomp.pkid },
            // The broker lost track of the exchange: the message's fate is unknown.
            reason => refused(pubcomp.pkid, format!("PUBCOMP {reason:?}"), true),
        },
        _ => Polled::Other,
    }
}

pub(super) fn from_v311(event: rumqttc::Event) -> Polled {
    use rumqttc::{Packet, SubscribeReasonCode};
    let incoming = match event {
        rumqttc::Event::Outgoing(outgoing) => return from_outgoing(outgoing),
        rumqttc::Event::Incoming(incoming) => incoming,
    };
    match incoming {
        // 3.1.1 brokers cannot announce a limit.
        Packet::ConnAck(connack) => Polled::Connected {
            session_present: connack.session_present,
            max_packet_size: None,
        },
        Packet::Publish(publish) => Polled::Message(Message::V311(publish)),
        Packet::SubAck(suback) => Polled::Subscribed {
            refused: suback
                .return_codes
                .iter()
                .filter(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                .map(|code| format!("{code:?}"))
                .collect(),
        },
        // 3.1.1 acknowledgements carry no reason: an ack is always a success.
        Packet::PubAck(puback) => Polled::Confirmed { pkid: puback.pkid },
        Packet::PubComp(pubcomp) => Polled::Confirmed { pkid: pubcomp.pkid },
        _ => Polled::Other,
    }
}

fn from_outgoing(outgoing: Outgoing) -> Polled {
    match outgoing {
        Outgoing::Publish(pkid) => Polled::Sent { pkid },
        Outgoing::AwaitAck(pkid) => Polled::Collided { pkid },
        Outgoing::Disconnect => Polled::Disconnecting,
        _ => Polled::Other,
    }
}
