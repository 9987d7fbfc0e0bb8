//! The hub as a sink: routes deliver into it like into any outbound.

use std::task::{Context, Poll};

use futures_util::future::{Ready, ready};
use tower::Service;

use super::Hub;
use crate::error::{BoxError, DeliveryError};
use crate::event::Event;

/// Publishes each event to the hub on the event's (possibly route-rewritten) topic. The hub
/// never blocks, so this confirms at once.
#[derive(Debug, Clone)]
pub struct HubSink {
    hub: Hub,
}

impl HubSink {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl Service<Event> for HubSink {
    type Response = ();
    type Error = BoxError;
    type Future = Ready<Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let result = self
            .hub
            .publish(&event.topic, &event.cloud)
            .map(drop)
            .map_err(|e| Box::new(DeliveryError::from(e)) as BoxError);
        ready(result)
    }
}
