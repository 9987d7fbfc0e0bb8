//! The publish check: an event whose principal may not publish to its origin topic, or is
//! over its publish rate, is refused before it is routed. One place for every listener (HTTP, WebSocket frames, gRPC); broker
//! inbounds carry no principal and are trusted by configuration.

use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, FutureExt as _};
use tower::{Layer, Service};

use crate::error::{BoxError, DeliveryError};
use crate::event::Event;

/// Wraps a service in [`Acl`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AclLayer;

impl<S> Layer<S> for AclLayer {
    type Service = Acl<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Acl { inner }
    }
}

/// Refuses events their principal may not publish; passes the rest on.
#[derive(Debug, Clone)]
pub struct Acl<S> {
    inner: S,
}

impl<S> Service<Event> for Acl<S>
where
    S: Service<Event, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: Event) -> Self::Future {
        if let Some(principal) = &event.origin.principal
            && !principal.may_publish(&event.origin.topic)
        {
            let anonymous = principal.method == "anonymous";
            let reason = if anonymous {
                "missing_credentials"
            } else {
                "publish_denied"
            };
            metrics::counter!("switchyard_auth_denied_total", "reason" => reason).increment(1);
            let refused = DeliveryError::Forbidden {
                principal: principal.id.to_string(),
                topic: event.origin.topic.to_string(),
                anonymous,
            };
            return Box::pin(async move { Err(Box::new(refused) as BoxError) });
        }
        if let Some(principal) = &event.origin.principal
            && let Some(bucket) = &principal.rate
            && let Err(retry_after) = bucket.take()
        {
            metrics::counter!("switchyard_auth_denied_total", "reason" => "rate_limited")
                .increment(1);
            let refused = DeliveryError::RateLimited {
                principal: principal.id.to_string(),
                retry_after,
            };
            return Box::pin(async move { Err(Box::new(refused) as BoxError) });
        }
        self.inner.call(event).boxed()
    }
}
