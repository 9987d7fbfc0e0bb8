//! An event as the hub stores and fans it out: encoded once, shared by every subscriber.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};

use crate::cloudevent::{CloudEvent, Data, json, protobuf};

/// Whether a hub message carries an event or tells the subscriber it missed some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Event,
    /// The subscriber's cursor fell out of the replay window: events were missed.
    Reset,
}

/// One stored event, pre-encoded for every feed.
#[derive(Debug)]
pub struct HubMessage {
    /// The hub-wide cursor (for a reset: the cursor the client asked to resume from).
    pub seq: u64,
    pub topic: Arc<str>,
    pub kind: MessageKind,
    /// The event in the JSON event format (one line is not guaranteed: JSON data is kept as sent).
    pub json: Bytes,
    /// The complete Server-Sent Events frame, `id:` included, ending in a blank line.
    pub sse: Bytes,
    /// The event in the protobuf format, made by the first subscriber that asks (gRPC
    /// streams) and shared by the rest.
    protobuf: OnceLock<Bytes>,
}

/// The type of the event a subscriber receives when its cursor fell out of the window.
pub const RESET_EVENT_TYPE: &str = "dev.switchyard.hub.reset";

pub(super) struct Encoded(Bytes);

impl Encoded {
    pub(super) fn new(event: &CloudEvent) -> Self {
        let mut out = Vec::with_capacity(256);
        json::encode_event(event, &mut out);
        Self(Bytes::from(out))
    }

    pub(super) fn into_message(self, seq: u64, topic: Arc<str>) -> HubMessage {
        let sse = sse_frame(Some(seq), None, &self.0);
        HubMessage {
            seq,
            topic,
            kind: MessageKind::Event,
            json: self.0,
            sse,
            protobuf: OnceLock::new(),
        }
    }
}

impl HubMessage {
    /// The reset notice: a CloudEvent saying which cursor was asked for and from which cursor
    /// the replay continues.
    pub fn reset(since: u64, resumed_from: u64) -> Self {
        let mut event = CloudEvent::new(
            format!("reset-{since}-{resumed_from}"),
            "/switchyard/hub",
            RESET_EVENT_TYPE,
        );
        let data = format!(
            r#"{{"reason":"cursor is outside the replay window; events were missed","since":{since},"resumed_from":{resumed_from}}}"#
        );
        event.data = Some(Data::Json(Bytes::from(data)));
        let encoded = Encoded::new(&event);
        let sse = sse_frame(None, Some("reset"), &encoded.0);
        HubMessage {
            seq: since,
            topic: Arc::from(""),
            kind: MessageKind::Reset,
            json: encoded.0,
            sse,
            protobuf: OnceLock::new(),
        }
    }

    /// The event in the protobuf event format, encoded once for every subscriber.
    pub fn protobuf(&self) -> &Bytes {
        self.protobuf
            .get_or_init(|| match json::decode_event(&self.json) {
                Ok(event) => Bytes::from(protobuf::encode_event(&event)),
                // The hub encoded this JSON itself, so it always decodes; were it not to, the
                // subscriber gets an empty event rather than the gateway a panic.
                Err(error) => {
                    tracing::error!(%error, seq = self.seq, "hub message does not decode");
                    Bytes::new()
                }
            })
    }
}

/// Builds one SSE frame. Every line break in the payload starts a new `data:` line, so a payload
/// can never end the frame early or inject fields; EventSource joins the lines back with `\n`,
/// which JSON treats as whitespace.
pub fn sse_frame(id: Option<u64>, event: Option<&str>, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 32);
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.to_string().as_bytes());
        out.put_u8(b'\n');
    }
    if let Some(event) = event {
        out.put_slice(b"event: ");
        out.put_slice(event.as_bytes());
        out.put_u8(b'\n');
    }
    let mut rest = payload;
    loop {
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
        out.put_slice(b"data: ");
        out.put_slice(&rest[..end.unwrap_or(rest.len())]);
        out.put_u8(b'\n');
        let Some(end) = end else { break };
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    out.put_u8(b'\n');
    out.freeze()
}
