//! `/pair/{name}` (WebSocket): the exclusive pair. The first peer waits; the second joins it,
//! and from then on each text or binary frame one sends, the other receives, as sent (a pair
//! is a private line, not a topic: frames are not read as events). A third peer is closed with
//! 4009; when one peer leaves, the other is closed with 4010, and the name is free again.
//! Frames a waiting peer sends are held (at most 64) and delivered once its partner joins.
//! Joining needs the subscribe permission on topic `pairs/{name}`. A pair bound from config
//! (`pairs.NAME.mqtt`) has a peer that is always there: the first WebSocket joins it at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use switchyard_core::auth::{Denial, check_subscribe};
use switchyard_core::pair::{self as link, BoundPeer, PeerLink};
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

mod peer;

enum Slot {
    /// One peer waits; the joiner sends it its link.
    Waiting(oneshot::Sender<PeerLink>),
    Joined,
}

/// The pairs of every listener; cheap to clone.
#[derive(Clone, Default)]
pub struct Pairs {
    slots: Arc<Mutex<HashMap<String, (u64, Slot)>>>,
    next: Arc<AtomicU64>,
    /// Pairs whose other peer is configured, not a WebSocket.
    bound: Arc<HashMap<String, Arc<dyn BoundPeer>>>,
}

impl std::fmt::Debug for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairs").finish_non_exhaustive()
    }
}

impl Pairs {
    /// The pairs, with these bound to a configured peer.
    pub fn with_bound(bound: HashMap<String, Arc<dyn BoundPeer>>) -> Self {
        Self {
            bound: Arc::new(bound),
            ..Self::default()
        }
    }
}

/// What joining gave a peer.
enum Joined {
    Partner(PeerLink),
    Wait(oneshot::Receiver<PeerLink>),
    Full(u16, &'static str),
}

impl Pairs {
    fn join(&self, name: &str) -> (u64, Joined) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.remove(name) {
            None if self.bound.contains_key(name) => {
                slots.insert(name.to_owned(), (id, Slot::Joined));
                (id, Joined::Partner(self.bound[name].attach()))
            }
            Some((first, Slot::Waiting(waiting))) if !waiting.is_closed() => {
                let (first_link, link) = link::link();
                if waiting.send(first_link).is_err() {
                    return self.wait(&mut slots, name, id);
                }
                slots.insert(name.to_owned(), (first, Slot::Joined));
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
                let (close, line) = peer::run(socket, joined, shutdown).await;
                // The name is free before the partner hears of the departure, so it can join
                // again at once.
                pairs.leave(&name, id);
                drop(line);
                tracing::debug!(pair = %name, code = close, "pair peer left");
            })
        })
}
