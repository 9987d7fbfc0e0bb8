//! One WebSocket peer of a pair: waits for its partner (holding what it sends meanwhile),
//! then passes frames both ways until either side leaves.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use switchyard_core::pair::{Frame, IN_FLIGHT, PeerLink};

use super::{CLOSE_PEER_LEFT, Joined};

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;
type Shutdown = tokio_util::sync::CancellationToken;

/// Serves one peer until it or its partner leaves: the close code sent, and the line to the
/// partner (dropping it tells the partner).
pub(super) async fn run(
    socket: WebSocket,
    joined: Joined,
    shutdown: Shutdown,
) -> (u16, Option<mpsc::Sender<Frame>>) {
    let (mut sink, mut stream) = socket.split();
    let (link, held) = match joined {
        Joined::Full(code, reason) => return (close(&mut sink, code, reason).await, None),
        Joined::Partner(link) => (link, Vec::new()),
        Joined::Wait(partner) => match wait(&mut stream, partner, &shutdown).await {
            Ok(joined) => joined,
            Err(Some((code, reason))) => return (close(&mut sink, code, reason).await, None),
            Err(None) => return (close_code::NORMAL, None),
        },
    };
    let PeerLink {
        to_partner,
        mut from_partner,
    } = link;
    let reading = async {
        for frame in held {
            if to_partner.send(frame).await.is_err() {
                return;
            }
        }
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
            if let Some(frame) = frame(message)
                && to_partner.send(frame).await.is_err()
            {
                return;
            }
        }
    };
    let writing = async {
        loop {
            tokio::select! {
                frame = from_partner.recv() => match frame {
                    Some(frame) => if sink.send(message(frame)).await.is_err() { return None },
                    None => return Some((CLOSE_PEER_LEFT, "the other peer left")),
                },
                () = shutdown.cancelled() => return Some((close_code::AWAY, "shutting down")),
            }
        }
    };
    let ended = tokio::select! {
        () = reading => Some((close_code::NORMAL, "")),
        ended = writing => ended,
    };
    let code = match ended {
        Some((code, reason)) => close(&mut sink, code, reason).await,
        None => close_code::ERROR,
    };
    (code, Some(to_partner))
}

/// Waits for a partner, holding what the peer sends meanwhile; on failure, the close to send
/// (`None`: the peer is gone).
async fn wait(
    stream: &mut Stream,
    mut partner: oneshot::Receiver<PeerLink>,
    shutdown: &Shutdown,
) -> Result<(PeerLink, Vec<Frame>), Option<(u16, &'static str)>> {
    let mut held = Vec::new();
    loop {
        tokio::select! {
            link = &mut partner => return match link {
                Ok(link) => Ok((link, held)),
                Err(_) => Err(Some((close_code::ERROR, "pair closed"))),
            },
            next = stream.next() => match next {
                Some(Ok(message)) => match frame(message) {
                    Some(frame) if held.len() < IN_FLIGHT => held.push(frame),
                    Some(_) => return Err(Some((close_code::AGAIN, "no peer yet; too many frames held"))),
                    None => {}
                },
                Some(Err(_)) | None => return Err(None),
            },
            () = shutdown.cancelled() => return Err(Some((close_code::AWAY, "shutting down"))),
        }
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) -> u16 {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
    code
}

/// A data frame as the pair carries it; control frames are not passed on.
fn frame(message: Message) -> Option<Frame> {
    match message {
        Message::Text(text) => Some(Frame::Text(text.as_str().to_owned())),
        Message::Binary(bytes) => Some(Frame::Binary(bytes)),
        _ => None,
    }
}

fn message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::text(text),
        Frame::Binary(bytes) => Message::binary(bytes),
    }
}
