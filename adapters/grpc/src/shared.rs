//! What every gRPC service of the listener shares.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use switchyard_core::auth::Authenticator;
use switchyard_core::hub::Hub;
use switchyard_core::pipeline::Pipeline;
use switchyard_core::queue::Queues;
use switchyard_core::rpc::RpcConfig;

/// The pipeline published events go to, the hub subscriptions read from.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub pipeline: Pipeline,
    pub hub: Hub,
    /// The inbound name events published here carry (`grpc`).
    pub inbound: Arc<str>,
    /// Cancelled in the drain's last phase: subscription streams end with UNAVAILABLE.
    pub streams_end: CancellationToken,
    /// `None`: open.
    pub auth: Authenticator,
    /// Deadlines of `Call`.
    pub rpc: Arc<RpcConfig>,
    /// The work queues `Lease`, `Ack` and `Nack` serve.
    pub queues: Queues,
}
