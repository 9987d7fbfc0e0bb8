//! The HTTP family as an inbound, like every broker inbound: it runs through the
//! [`Inbound`] contract, takes the app's pipeline from its context, and stops accepting when
//! the context's shutdown token is cancelled. Its connections and streams outlive `run`, so
//! that a publish racing the drain still gets an answer: they end when the app cancels
//! [`Streams::shutdown`], after the deliveries inside have finished.

use std::sync::Arc;

use axum::Router;
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchyard_core::hub::Hub;
use switchyard_core::inbound::{Inbound, InboundContext};

use crate::access::Access;
use crate::config::HttpConfig;
use crate::queues::Queues;
use crate::rpc::Rpc;
use crate::server::{ServerOptions, Stopping, serve};
use crate::state::HttpState;

/// What outlives the listener, for the drain's last phase.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    /// Cancelled last: SSE streams and long polls end (after flushing), WebSockets close
    /// with 1001, connections close after their current response.
    pub shutdown: CancellationToken,
    /// Every connection's task.
    pub connections: TaskTracker,
    /// Upgraded WebSockets, which the connection tracker no longer sees.
    pub websockets: TaskTracker,
}

/// The HTTP family on a bound listener, ready to run.
#[derive(Debug)]
pub struct HttpInbound {
    pub listener: TcpListener,
    pub hub: Hub,
    pub config: Arc<HttpConfig>,
    /// Routes served on the same listener (the admin routes, when they have none of their
    /// own).
    pub extra: Option<Router>,
    pub options: ServerOptions,
    pub streams: Streams,
    pub access: Access,
    pub rpc: Rpc,
    pub queues: Queues,
    pub pairs: crate::Pairs,
}

impl Inbound for HttpInbound {
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()> {
        let Self {
            listener,
            hub,
            config,
            extra,
            options,
            streams,
            access,
            rpc,
            queues,
            pairs,
        } = *self;
        let state = HttpState {
            pipeline: ctx.pipeline,
            hub,
            config,
            inbound: ctx.name,
            shutdown: streams.shutdown.clone(),
            websockets: streams.websockets.clone(),
            access,
            rpc,
            queues,
            pairs,
        };
        let app = match extra {
            Some(extra) => crate::router(state).merge(extra),
            None => crate::router(state),
        };
        let stopping = Stopping {
            accepting: ctx.shutdown,
            connections: streams.shutdown,
        };
        ctx.ready.set(true);
        Box::pin(async move {
            serve(listener, app, options, stopping, streams.connections).await;
            ctx.ready.set(false);
        })
    }
}
