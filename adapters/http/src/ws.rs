//! WebSocket subscriptions (CloudEvents WebSocket binding): one structured event per frame in
//! both directions, as text frames in the JSON format (subprotocol `cloudevents.json`, the
//! default) or binary frames in the protobuf format (`cloudevents.proto`). Frames the client sends are published
//! to the URL's topic. Close codes: 1001 on drain, 1007 invalid UTF-8, 1008 an invalid event or
//! a publish the gateway refused, 1009 a message over the limit, 1003 a frame of the other subprotocol's kind, 1011 an
//! internal failure, 1013 overloaded, 4008 a slow consumer. A close from the client is echoed
//! with its code before the connection ends.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::SinkExt;
use tokio::time::{Instant, interval_at};

use switchyard_core::cloudevent::{CloudEvent, DecodeError, json, protobuf};
use switchyard_core::event::Event;
use switchyard_core::hub::{CloseReason, HubMessage, SubscribeOptions, Subscription};
use switchyard_core::pipeline::deliver;
use switchyard_core::principal::Principal;
use switchyard_core::topic::TopicFilter;
use switchyard_core::{BoxError, DeliveryError};

use crate::server::ConnectionSlot;
use crate::state::HttpState;
use crate::subscribe::SubscribeRequest;

/// The JSON subprotocol (structured mode, JSON format, text frames): our first preference,
/// and what a client that names none gets.
pub const SUBPROTOCOL: &str = "cloudevents.json";
/// The protobuf subprotocol (structured mode, protobuf format, binary frames).
pub const PROTO_SUBPROTOCOL: &str = "cloudevents.proto";

/// The event format of a connection, from its subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Proto,
}

/// Private-use close code for a subscriber that did not keep up (as Centrifugo's 3008).
pub const CLOSE_SLOW_CONSUMER: u16 = 4008;

/// Read buffer per connection. tungstenite's default (128 KiB, allocated up front) would make
/// idle connections cost ~130 KiB each; messages larger than this still arrive, in pieces.
const READ_BUFFER: usize = 4 * 1024;
/// Write buffer: frames are flushed explicitly after each batch, so this only bounds how much
/// is gathered before tungstenite writes on its own.
const WRITE_BUFFER: usize = 8 * 1024;
/// Most events fed to the socket before a flush.
const COALESCE_EVENTS: usize = 64;

pub(crate) fn upgrade(
    state: HttpState,
    request: SubscribeRequest,
    (upgrade, principal): (WebSocketUpgrade, Option<Arc<Principal>>),
    headers: &HeaderMap,
    slot: Option<ConnectionSlot>,
) -> Response {
    // The connection's slot under `http.max_connections` stays with it after the upgrade.
    let slot = slot.and_then(|s| s.take());
    let max = state.config.ws_max_message;
    let wanted = client_preference(headers);
    let upgrade = upgrade
        .protocols([wanted])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Backpressure comes from the hub queue; this bounds what a stalled socket can hold.
        .max_write_buffer_size(WRITE_BUFFER + max + 1024)
        .max_message_size(max)
        .max_frame_size(max);
    let options = SubscribeOptions {
        since: request.query.since,
        group: request.query.group,
    };
    let mut subscription = state.hub.subscribe(request.filter.clone(), options);
    subscription.hold(request.place);
    let tracker = state.websockets.clone();
    let with_cursor = request.query.with_cursor;
    let format = match upgrade.selected_protocol() {
        Some(p) if p.as_bytes() == PROTO_SUBPROTOCOL.as_bytes() => Format::Proto,
        _ => Format::Json,
    };
    upgrade
        .on_failed_upgrade(|err| tracing::debug!(error = %err, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            let connection = Connection {
                socket,
                subscription,
                filter: request.filter,
                with_cursor,
                format,
                state,
                principal,
            };
            tracker.track_future(async move {
                connection.run().await;
                drop(slot);
            })
        })
}

/// The first of our subprotocols in the client's own order of preference (axum keeps the
/// offer as a sorted set, and would pick by our order); `cloudevents.json` when the client
/// offers neither.
fn client_preference(headers: &HeaderMap) -> &'static str {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|offered| {
            [SUBPROTOCOL, PROTO_SUBPROTOCOL]
                .into_iter()
                .find(|ours| offered.eq_ignore_ascii_case(ours))
        })
        .unwrap_or(SUBPROTOCOL)
}

struct Connection {
    socket: WebSocket,
    subscription: Subscription,
    filter: TopicFilter,
    with_cursor: bool,
    format: Format,
    state: HttpState,
    /// Who opened it; its frames are published as this principal.
    principal: Option<Arc<Principal>>,
}

/// How a connection ends: the close frame we send (if any).
type Closing = Option<(u16, String)>;

impl Connection {
    async fn run(mut self) {
        metrics::gauge!("switchyard_websocket_connections").increment(1.0);
        let ping_every = Duration::from_millis(self.state.config.ws_ping_interval_ms.max(100));
        let mut ping = interval_at(Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        let closing: Closing = loop {
            tokio::select! {
                biased;
                () = self.state.shutdown.cancelled() => {
                    // What the queue already holds was accepted before the drain ended the
                    // streams: send it before the close.
                    if let Some(first) = self.subscription.try_recv()
                        && let Err(close) = self.send_batch_all(first).await
                    {
                        break close;
                    }
                    break Some((close_code::AWAY, "server shutting down".into()));
                }
                incoming = self.socket.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        None => break None,
                        Some(Err(err)) => break close_for_read_error(&err),
                        Some(Ok(msg)) => if let Some(close) = self.on_client_message(msg).await {
                            break close;
                        },
                    }
                }
                received = self.subscription.recv() => match received {
                    Ok(first) => if let Err(close) = self.send_batch(first).await { break close },
                    Err(reason) => break Some(close_for_hub(reason)),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_every * 2 {
                        break Some((close_code::POLICY, "no pong within two ping intervals".into()));
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() { break None }
                }
            }
        };
        if let Some((code, reason)) = closing {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            };
            // The peer may be gone already; nothing more to do then.
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
        metrics::gauge!("switchyard_websocket_connections").decrement(1.0);
    }

    /// Sends `first` and everything queued behind it, in batches (the drain's flush).
    async fn send_batch_all(&mut self, first: Arc<HubMessage>) -> Result<(), Closing> {
        let mut next = Some(first);
        while let Some(msg) = next {
            self.send_batch(msg).await?;
            next = self.subscription.try_recv();
        }
        Ok(())
    }

    /// Feeds `first` and whatever else is queued, then flushes once: many events, one write.
    async fn send_batch(&mut self, first: Arc<HubMessage>) -> Result<(), Closing> {
        let mut next = Some(first);
        let mut fed = 0;
        while let Some(msg) = next {
            let frame = self.frame(&msg)?;
            self.socket.feed(frame).await.map_err(|_| None)?;
            fed += 1;
            next = if fed < COALESCE_EVENTS {
                self.subscription.try_recv()
            } else {
                None
            };
        }
        self.socket.flush().await.map_err(|_| None)
    }

    /// One hub message as a frame of this connection's subprotocol.
    fn frame(&self, msg: &HubMessage) -> Result<Message, Closing> {
        if self.format == Format::Proto {
            let bytes = if self.with_cursor {
                proto_with_cursor(msg)
            } else {
                msg.protobuf().clone()
            };
            return Ok(Message::Binary(bytes));
        }
        let json = if self.with_cursor {
            with_cursor_extension(msg)
        } else {
            msg.json.clone()
        };
        let text = Utf8Bytes::try_from(json)
            .map_err(|_| Some((close_code::ERROR, "event is not UTF-8".into())))?;
        Ok(Message::Text(text))
    }

    /// Handles one client frame; `Some` ends the connection.
    async fn on_client_message(&mut self, msg: Message) -> Option<Closing> {
        let wrong_kind = |what: &str| {
            Some(Some((
                close_code::UNSUPPORTED,
                format!("{what} frames are not part of this subprotocol"),
            )))
        };
        match (msg, self.format) {
            (Message::Text(text), Format::Json) => {
                let bytes = bytes::Bytes::from(text);
                self.publish(json::decode_event(&bytes)).await.err()
            }
            (Message::Binary(bytes), Format::Proto) => {
                self.publish(protobuf::decode_event(&bytes)).await.err()
            }
            (Message::Binary(_), Format::Json) => wrong_kind("binary"),
            (Message::Text(_), Format::Proto) => wrong_kind("text"),
            (Message::Close(_), _) => {
                self.finish_close_handshake().await;
                Some(None)
            }
            (Message::Ping(_) | Message::Pong(_), _) => None,
        }
    }

    /// The client closed. tungstenite has queued our answer, its close frame echoed (same code,
    /// or empty for an empty one: RFC 6455 §5.5.1), but only writes it on the next read or
    /// flush; reading on sends it and then reports the end, so the socket is dropped (the
    /// server closes TCP first, §7.1.1) only after the handshake is complete.
    async fn finish_close_handshake(&mut self) {
        // A peer that stops reading cannot hold the connection open past the timeout.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }

    async fn publish(&mut self, decoded: Result<CloudEvent, DecodeError>) -> Result<(), Closing> {
        if !self.filter.is_exact() {
            return Err(Some((
                close_code::POLICY,
                "cannot publish to a wildcard filter".into(),
            )));
        }
        let cloud = decoded.map_err(|e| Some((close_code::POLICY, short(e.to_string()))))?;
        let event = Event::new(cloud, self.state.inbound.clone(), self.filter.as_str())
            .by(self.principal.clone());
        deliver(&self.state.pipeline, event)
            .await
            .map_err(|e| Some(close_for_delivery(&e)))?;
        Ok(())
    }
}

/// The event with `"hubcursor":"<seq>"` spliced in as its first member (reset notices carry
/// the cursor they were asked to resume from).
fn with_cursor_extension(msg: &HubMessage) -> bytes::Bytes {
    let mut out = Vec::with_capacity(msg.json.len() + 32);
    out.extend_from_slice(b"{\"hubcursor\":\"");
    out.extend_from_slice(msg.seq.to_string().as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(msg.json.get(1..).unwrap_or_default());
    out.into()
}

/// The protobuf event with extension `hubcursor` added, as [`with_cursor_extension`] does
/// for JSON.
fn proto_with_cursor(msg: &HubMessage) -> bytes::Bytes {
    use protobuf::pb::cloud_event::CloudEventAttributeValue;
    use protobuf::pb::cloud_event::cloud_event_attribute_value::Attr;
    use switchyard_core::cloudevent::protobuf::pb::CloudEvent as PbEvent;
    let Ok(mut event) = <PbEvent as prost::Message>::decode(msg.protobuf().clone()) else {
        return msg.protobuf().clone();
    };
    let cursor = Attr::CeString(msg.seq.to_string());
    let value = CloudEventAttributeValue { attr: Some(cursor) };
    event.attributes.insert("hubcursor".into(), value);
    prost::Message::encode_to_vec(&event).into()
}

fn close_for_read_error(err: &axum::Error) -> Closing {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    let inner = std::error::Error::source(err).and_then(|e| e.downcast_ref::<WsError>());
    match inner {
        Some(WsError::Capacity(CapacityError::MessageTooLong { size, max_size })) => Some((
            close_code::SIZE,
            format!("message of {size} bytes exceeds {max_size}"),
        )),
        Some(WsError::Utf8(_)) => {
            Some((close_code::INVALID, "text frame is not valid UTF-8".into()))
        }
        Some(WsError::Protocol(p)) => Some((close_code::PROTOCOL, short(p.to_string()))),
        _ => None,
    }
}

fn close_for_hub(reason: CloseReason) -> (u16, String) {
    match reason {
        CloseReason::SlowConsumer { .. } => (CLOSE_SLOW_CONSUMER, short(reason.to_string())),
        CloseReason::HubClosed => (close_code::AWAY, "hub closed".into()),
    }
}

fn close_for_delivery(err: &BoxError) -> (u16, String) {
    let code = match DeliveryError::find(err.as_ref()) {
        Some(DeliveryError::Forbidden(denial)) => {
            return (close_code::POLICY, short(denial.to_string()));
        }
        Some(
            DeliveryError::Overloaded
            | DeliveryError::Unavailable { .. }
            | DeliveryError::Hub(_)
            | DeliveryError::RateLimited { .. },
        ) => close_code::AGAIN,
        Some(DeliveryError::ShuttingDown) => close_code::AWAY,
        Some(
            DeliveryError::NoRoute { .. }
            | DeliveryError::Rejected { .. }
            | DeliveryError::InvalidTopic { .. }
            | DeliveryError::TooLarge { .. }
            | DeliveryError::NoReplier { .. }
            | DeliveryError::BadReply { .. },
        ) => close_code::POLICY,
        Some(DeliveryError::Timeout { .. }) | None => close_code::ERROR,
    };
    (code, short(err.to_string()))
}

/// Close reasons must fit a control frame (123 bytes).
pub(crate) fn short(mut text: String) -> String {
    if text.len() > 120 {
        let mut cut = 120;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
