//! What every handler of the HTTP family shares.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchyard_core::hub::Hub;
use switchyard_core::pipeline::Pipeline;

use crate::access::Access;
use crate::config::HttpConfig;
use crate::pair::Pairs;
use crate::queues::Queues;
use crate::rpc::Rpc;

/// Shared state of the HTTP family's handlers.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// Where published events go.
    pub pipeline: Pipeline,
    /// Where subscriptions read from.
    pub hub: Hub,
    pub config: Arc<HttpConfig>,
    /// The inbound name events published here carry (`http`).
    pub inbound: Arc<str>,
    /// Cancelled when the gateway starts draining: ends SSE streams and long polls, closes
    /// WebSockets with 1001.
    pub shutdown: CancellationToken,
    /// Tracks upgraded WebSocket connections, which hyper's graceful shutdown no longer sees,
    /// so the drain can wait for their close handshakes.
    pub websockets: TaskTracker,
    /// Who may publish and subscribe, and from which origins.
    pub access: Access,
    /// Request-reply settings and the asynchronous replies.
    pub rpc: Rpc,
    /// The work queues consumers lease from.
    pub queues: Queues,
    /// The exclusive pairs (`/pair/{name}`).
    pub pairs: Pairs,
}
