//! Counts every event's outcome and times its delivery, labelled by inbound.

use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::error::{BoxError, DeliveryError};
use crate::event::Event;

/// Wraps a service in [`Metrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = Metrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metrics { inner }
    }
}

/// Records `switchyard_events_total{inbound, outcome}` and
/// `switchyard_event_delivery_seconds{inbound}`.
#[derive(Debug, Clone)]
pub struct Metrics<S> {
    inner: S,
}

impl<S> Service<Event> for Metrics<S>
where
    S: Service<Event, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: Event) -> Self::Future {
        // An `Arc<str>` label: a reference count, not an allocation, per event.
        let inbound = event.origin.inbound.clone();
        let started = Instant::now();
        let fut = self.inner.call(event);
        Box::pin(async move {
            let result = fut.await;
            let outcome = match &result {
                Ok(_) => "delivered",
                Err(err) => outcome_of(err.as_ref()),
            };
            metrics::counter!("switchyard_events_total", "inbound" => inbound.clone(), "outcome" => outcome)
                .increment(1);
            metrics::histogram!("switchyard_event_delivery_seconds", "inbound" => inbound)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// A short, bounded label for an error (never the error text: labels must stay few).
pub(crate) fn outcome_of(err: &(dyn std::error::Error + 'static)) -> &'static str {
    match DeliveryError::find(err) {
        Some(DeliveryError::NoRoute { .. }) => "no_route",
        Some(DeliveryError::Overloaded) => "overloaded",
        Some(DeliveryError::Unavailable { .. }) => "unavailable",
        Some(DeliveryError::Timeout { .. }) => "timeout",
        Some(DeliveryError::Rejected { .. }) => "rejected",
        Some(DeliveryError::InvalidTopic { .. }) => "invalid_topic",
        Some(DeliveryError::TooLarge { .. }) => "too_large",
        Some(DeliveryError::Hub(_)) => "hub_full",
        Some(DeliveryError::Forbidden(_)) => "forbidden",
        Some(DeliveryError::RateLimited { .. }) => "rate_limited",
        Some(DeliveryError::ShuttingDown) => "shutting_down",
        Some(DeliveryError::NoReplier { .. }) => "no_replier",
        Some(DeliveryError::BadReply { .. }) => "bad_reply",
        None => "failed",
    }
}
