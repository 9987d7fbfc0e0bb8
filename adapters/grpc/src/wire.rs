//! `switchyard.v1.SubscribeResponse` written by hand rather than generated: its `event` is the
//! hub message's protobuf encoding, made once and shared by every subscriber, so a fan-out to
//! a thousand streams encodes the event once instead of cloning a thousand messages. The wire
//! bytes are exactly those of the generated message (`proto/switchyard/v1/gateway.proto`).

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{
    DecodeContext, WireType, bool as pbool, bytes as pbytes, skip_field, uint64,
};
use prost::{DecodeError, Message};

use switchyard_core::cloudevent::protobuf::pb::CloudEvent;

/// One streamed event: its hub cursor, the encoded `io.cloudevents.v1.CloudEvent`, and
/// whether it is the reset notice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscribeResponse {
    pub cursor: u64,
    /// An encoded `io.cloudevents.v1.CloudEvent` (field 2), written as it is.
    pub event: Bytes,
    pub reset: bool,
}

impl SubscribeResponse {
    /// The event, decoded (for clients of this type).
    pub fn decode_event(&self) -> Result<CloudEvent, DecodeError> {
        CloudEvent::decode(self.event.clone())
    }
}

impl Message for SubscribeResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.cursor != 0 {
            uint64::encode(1, &self.cursor, buf);
        }
        // A message field is written even when empty: `event` is always present.
        pbytes::encode(2, &self.event, buf);
        if self.reset {
            pbool::encode(3, &self.reset, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => uint64::merge(wire_type, &mut self.cursor, buf, ctx),
            2 => pbytes::merge(wire_type, &mut self.event, buf, ctx),
            3 => pbool::merge(wire_type, &mut self.reset, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let cursor = if self.cursor != 0 {
            uint64::encoded_len(1, &self.cursor)
        } else {
            0
        };
        let reset = if self.reset {
            pbool::encoded_len(3, &self.reset)
        } else {
            0
        };
        cursor + pbytes::encoded_len(2, &self.event) + reset
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated-message view of the same bytes, as any client compiles it.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(uint64, tag = "1")]
        cursor: u64,
        #[prost(message, optional, tag = "2")]
        event: Option<CloudEvent>,
        #[prost(bool, tag = "3")]
        reset: bool,
    }

    #[test]
    fn writes_the_bytes_of_the_generated_message() {
        let event = CloudEvent {
            id: "1".into(),
            source: "/s".into(),
            spec_version: "1.0".into(),
            r#type: "t".into(),
            ..CloudEvent::default()
        };
        for (cursor, reset) in [(0, false), (42, false), (7, true)] {
            let ours = SubscribeResponse {
                cursor,
                event: Bytes::from(event.encode_to_vec()),
                reset,
            };
            let generated = Generated {
                cursor,
                event: Some(event.clone()),
                reset,
            };
            assert_eq!(ours.encode_to_vec(), generated.encode_to_vec());
            let back =
                SubscribeResponse::decode(generated.encode_to_vec().as_slice()).expect("decodes");
            assert_eq!(back, ours);
            assert_eq!(back.decode_event().expect("event"), event);
        }
    }
}
