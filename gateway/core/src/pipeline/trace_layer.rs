//! A tracing span per event, carrying the CloudEvents attributes OpenTelemetry's semantic
//! conventions name (`cloudevents.event_id`, `..._source`, `..._type`, `..._subject`).

use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::event::Event;

/// Wraps a service in [`Trace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace { inner }
    }
}

/// Runs each event's delivery inside its own span and logs failures at the edge.
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S> Service<Event> for Trace<S>
where
    S: Service<Event>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let span = tracing::debug_span!(
            "event",
            inbound = %event.origin.inbound,
            topic = %event.origin.topic,
            cloudevents.event_id = %event.cloud.id,
            cloudevents.event_source = %event.cloud.source,
            cloudevents.event_type = %event.cloud.ty,
            cloudevents.event_subject = event.cloud.subject.as_deref(),
        );
        let fut = {
            let _enter = span.enter();
            self.inner.call(event)
        };
        Box::pin(
            async move {
                let result = fut.await;
                if let Err(err) = &result {
                    tracing::debug!(error = %err, "event not delivered");
                }
                result
            }
            .instrument(span),
        )
    }
}
