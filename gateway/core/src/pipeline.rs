//! The pipeline every inbound calls: a `tower::Service<Event>` whose layers apply policy before
//! the router hands the event to its sinks. Its response or error decides the source's ack.

mod acl;
mod drain_layer;
mod metrics_layer;
mod trace_layer;

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::error::{BoxError, DeliveryError};
use crate::event::Event;
pub use drain_layer::{Drain, DrainGate, DrainLayer};
pub use metrics_layer::{Metrics, MetricsLayer};
pub use trace_layer::{Trace, TraceLayer};

/// What the pipeline answers when every required sink confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// How many sinks confirmed the event.
    pub sinks: usize,
}

/// The assembled pipeline, as inbounds hold it: cheap to clone, shareable across tasks.
pub type Pipeline = BoxCloneSyncService<Event, Delivered, BoxError>;

/// An outbound as the router holds it: confirms (`Ok`) or fails.
pub type Sink = BoxCloneSyncService<Event, (), BoxError>;

/// Limits applied to every event, whatever its inbound.
#[derive(Debug, Clone)]
pub struct PipelineLimits {
    /// Events being delivered at once, across all inbounds.
    pub max_in_flight: usize,
}

impl Default for PipelineLimits {
    fn default() -> Self {
        Self {
            max_in_flight: 10_000,
        }
    }
}

/// Builds the pipeline around `router`. One layer a line, outermost first. `gate` is closed
/// by the drain.
pub fn build<R>(router: R, limits: &PipelineLimits, gate: &DrainGate) -> Pipeline
where
    R: Service<Event, Response = Delivered, Error = BoxError> + Clone + Send + Sync + 'static,
    R::Future: Send + 'static,
{
    let service = ServiceBuilder::new()
        // Outermost, so the span covers everything below, rejections included.
        .layer(TraceLayer)
        // Above the limits, so shed events are counted as outcomes too.
        .layer(MetricsLayer)
        // Above the limits: a draining gateway refuses before anything is counted in flight,
        // and every event that got past it is waited for before the streams end.
        .layer(DrainLayer::new(gate.clone()))
        // Before anything is counted in flight: a publish its principal may not make is
        // refused for good (403, close 1008, PERMISSION_DENIED).
        .filter(acl::check)
        // Name a shed event for what it is, so inbounds can answer 503 / stop acking.
        .map_err(name_overload)
        // Refuse at the limit instead of queueing: queued events would hold memory and the
        // source's ack; a refusal lets the source back off and retry.
        .load_shed()
        .concurrency_limit(limits.max_in_flight)
        .service(router);
    BoxCloneSyncService::new(service)
}

fn name_overload(err: BoxError) -> BoxError {
    if err.is::<tower::load_shed::error::Overloaded>() {
        Box::new(DeliveryError::Overloaded)
    } else {
        err
    }
}

/// The pipeline of a dead-letter sink: the same layers as [`build`]'s (trace, metrics, drain,
/// limits), so a message on its way to the dead letters is seen like any other event.
pub fn dead_letter(sink: Sink, limits: &PipelineLimits, gate: &DrainGate) -> Pipeline {
    build(sink.map_response(|()| Delivered { sinks: 1 }), limits, gate)
}

/// Calls the pipeline once: waits for readiness, then delivers.
pub async fn deliver(pipeline: &Pipeline, event: Event) -> Result<Delivered, BoxError> {
    pipeline.clone().oneshot(event).await
}

/// A sink that accepts everything; for tests and for routes that only count.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl Service<Event> for NullSink {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Event) -> Self::Future {
        Box::pin(async { Ok(()) })
    }
}
