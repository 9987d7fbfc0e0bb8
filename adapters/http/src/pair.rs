//! `/pair/{name}` (WebSocket): the exclusive pair. The first peer waits; the second joins it,
//! and from then on each text or binary frame one sends, the other receives, as sent (a pair
//! is a private line, not a topic: frames are not read as events). A third peer is closed with
//! 4009; when one peer leaves, the other is closed with 4010, and the name is free again.
//! Frames a waiting peer sends are held (at most 64) and delivered once its partner joins.
//! Joining needs the subscribe permission on topic `pairs/{name}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use switchyard_core::auth::{Denial, check_subscribe};
use switchyard_core::topic::TopicFilter;

use crate::access::Caller;
use crate::error::ApiError;
use crate::state::HttpState;

/// A third peer.
pub const CLOSE_PAIR_FULL: u16 = 4009;
/// The other peer left.
pub const CLOSE_PEER_LEFT: u16 = 4010;
/// Pairs (waiting or joined) at once; beyond it a peer is closed with 1013.
const MAX_PAIRS: usize = 10_000;
/// Frames in flight from one peer to the other, and frames held while waiting.
const IN_FLIGHT: usize = 64;

/// One peer's ends: where its frames go, and where its partner's come from.
struct Link {
    to_partner: mpsc::Sender<Message>,
    from_partner: mpsc::Receiver<Message>,
}

enum Slot {
    /// One peer waits; the joiner sends it its link.
    Waiting(oneshot::Sender<Link>),
    Joined,
}

/// The pairs of every listener; cheap to clone.
#[derive(Clone, Default)]
pub struct Pairs {
    slots: Arc<Mutex<HashMap<String, (u64, Slot)>>>,
    next: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairs").finish_non_exhaustive()
    }
}

/// What joining gave a peer.
enum Joined {
    Partner(Link),
    Wait(oneshot::Receiver<Link>),
    Full(u16, &'static str),
}

impl Pairs {
    fn join(&self, name: &str) -> (u64, Joined) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.remove(name) {
            Some((first, Slot::Waiting(waiting))) if !waiting.is_closed() => {
                let (to_first, first_rx) = mpsc::channel(IN_FLIGHT);
                let (to_second, second_rx) = mpsc::channel(IN_FLIGHT);
                let first_link = Link {
                    to_partner: to_second,
                    from_partner: first_rx,
                };
                if waiting.send(first_link).is_err() {
                    return self.wait(&mut slots, name, id);
                }
                slots.insert(name.to_owned(), (first, Slot::Joined));
                let link = Link {
                    to_partner: to_first,
                    from_partner: second_rx,
                };
                (first, Joined::Partner(link))
            }
            Some(joined @ (_, Slot::Joined)) => {
                slots.insert(name.to_owned(), joined);
                (
                    id,
                    Joined::Full(CLOSE_PAIR_FULL, "the pair has two peers already"),
                )
            }
            // Empty, or its waiting peer left.
            _ if slots.len() >= MAX_PAIRS => {
                (id, Joined::Full(close_code::AGAIN, "too many pairs"))
            }
            _ => self.wait(&mut slots, name, id),
        }
    }

    fn wait(&self, slots: &mut HashMap<String, (u64, Slot)>, name: &str, id: u64) -> (u64, Joined) {
        let (sender, receiver) = oneshot::channel();
        slots.insert(name.to_owned(), (id, Slot::Waiting(sender)));
        (id, Joined::Wait(receiver))
    }

    /// Frees `name` if it still holds the pair `id`.
    fn leave(&self, name: &str, id: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.get(name).is_some_and(|(held, _)| *held == id) {
            slots.remove(name);
        }
    }
}

/// `GET /pair/{name}` with a WebSocket upgrade.
pub(crate) async fn join(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Caller(caller): Caller,
    headers: axum::http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "a pair is a WebSocket",
        )
        .into_response();
    };
    if let Err(denial) = crate::access::origin_allowed(&state.access, &headers) {
        return ApiError::denied(&denial).into_response();
    }
    let allowed = caller.and_then(|principal| {
        let topic = TopicFilter::parse(&format!("pairs/{name}"))
            .map_err(|_| Denial::new("denied", "a pair name is one topic level"))?;
        check_subscribe(principal.as_deref(), &topic)
    });
    if let Err(denial) = allowed {
        return crate::ws_denied::refuse(upgrade, &denial);
    }
    let pairs = state.pairs.clone();
    let tracker = state.websockets.clone();
    let shutdown = state.shutdown.clone();
    let max = state.config.ws_max_message;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let (id, joined) = pairs.join(&name);
                let (close, line) = run(socket, joined, shutdown).await;
                // The name is free before the partner hears of the departure, so it can join
                // again at once.
                pairs.leave(&name, id);
                drop(line);
                tracing::debug!(pair = %name, code = close, "pair peer left");
            })
        })
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;
type Shutdown = tokio_util::sync::CancellationToken;

/// Serves one peer until it or its partner leaves: the close code sent, and the line to the
/// partner (dropping it tells the partner).
async fn run(
    socket: WebSocket,
    joined: Joined,
    shutdown: Shutdown,
) -> (u16, Option<mpsc::Sender<Message>>) {
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
    let Link {
        to_partner,
        mut from_partner,
    } = link;
    let reading = async {
        for frame in held {
            if to_partner.send(frame).await.is_err() {
                return;
            }
        }
        while let Some(Ok(frame)) = stream.next().await {
            let data = matches!(frame, Message::Text(_) | Message::Binary(_));
            if matches!(frame, Message::Close(_)) || (data && to_partner.send(frame).await.is_err())
            {
                return;
            }
        }
    };
    let writing = async {
        loop {
            tokio::select! {
                frame = from_partner.recv() => match frame {
                    Some(frame) => if sink.send(frame).await.is_err() { return None },
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
    mut partner: oneshot::Receiver<Link>,
    shutdown: &Shutdown,
) -> Result<(Link, Vec<Message>), Option<(u16, &'static str)>> {
    let mut held = Vec::new();
    loop {
        tokio::select! {
            link = &mut partner => return match link {
                Ok(link) => Ok((link, held)),
                Err(_) => Err(Some((close_code::ERROR, "pair closed"))),
            },
            frame = stream.next() => match frame {
                Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) if held.len() < IN_FLIGHT => held.push(frame),
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    return Err(Some((close_code::AGAIN, "no peer yet; too many frames held")));
                }
                Some(Ok(_)) => {}
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
        std::time::Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
    code
}
