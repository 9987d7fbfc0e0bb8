//! The exclusive pair's peers as the HTTP family's `/pair/{name}` joins them: each side sends
//! [`Frame`]s over a bounded channel. A pair may be bound from config to a peer that is not a
//! WebSocket (an MQTT topic pair: a device's in and out); that peer is always there, and each
//! WebSocket that joins the pair [attaches](BoundPeer::attach) to it.

use bytes::Bytes;
use tokio::sync::mpsc;

/// Frames in flight from one peer to the other.
pub const IN_FLIGHT: usize = 64;

/// What a peer sends: text or bytes, passed on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
}

/// One peer's ends: where its frames go, and where its partner's come from. Dropping
/// `to_partner` tells the partner this peer left.
#[derive(Debug)]
pub struct PeerLink {
    pub to_partner: mpsc::Sender<Frame>,
    pub from_partner: mpsc::Receiver<Frame>,
}

/// Two linked ends, one for each peer.
pub fn link() -> (PeerLink, PeerLink) {
    let (to_first, first_rx) = mpsc::channel(IN_FLIGHT);
    let (to_second, second_rx) = mpsc::channel(IN_FLIGHT);
    (
        PeerLink {
            to_partner: to_second,
            from_partner: first_rx,
        },
        PeerLink {
            to_partner: to_first,
            from_partner: second_rx,
        },
    )
}

/// A configured peer a WebSocket pairs with.
pub trait BoundPeer: std::fmt::Debug + Send + Sync + 'static {
    /// Links a newly joined WebSocket peer to this one (the WebSocket's end); a previous link
    /// is dropped.
    fn attach(&self) -> PeerLink;
}
