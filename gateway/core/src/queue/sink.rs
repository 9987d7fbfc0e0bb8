//! A work queue as a sink: routes deliver into it (`to: queue:NAME`) like into any outbound.

use std::task::{Context, Poll};

use futures_util::future::{Ready, ready};
use tower::Service;

use super::WorkQueue;
use crate::error::BoxError;
use crate::event::Event;

/// The sink name routes use for the queue `name`.
pub fn sink_name(name: &str) -> String {
    format!("queue:{name}")
}

/// Enqueues each event (an in-memory queue confirms at once; it is full → unavailable).
#[derive(Debug, Clone)]
pub struct QueueSink {
    queue: WorkQueue,
}

impl QueueSink {
    pub fn new(queue: WorkQueue) -> Self {
        Self { queue }
    }
}

impl Service<Event> for QueueSink {
    type Response = ();
    type Error = BoxError;
    type Future = Ready<Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        ready(
            self.queue
                .push(event.cloud)
                .map_err(|e| Box::new(e) as BoxError),
        )
    }
}
