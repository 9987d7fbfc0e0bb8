//! The drain gate: the first thing a draining gateway closes. Every event entering the pipeline
//! holds a pass until its delivery finished; once the gate is closed, new events are refused
//! with [`DeliveryError::ShuttingDown`] (HTTP 503, WebSocket 1001, a broker message left
//! unacked), and the drain waits for the passes still out before it ends the subscriber
//! streams. So an event that was answered "delivered" is in every subscriber queue before
//! those queues are flushed and closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, FutureExt};
use tokio_util::task::TaskTracker;
use tower::{Layer, Service};

use crate::error::{BoxError, DeliveryError};
use crate::event::Event;

/// Open until the drain closes it; clones share it.
#[derive(Debug, Clone, Default)]
pub struct DrainGate {
    inner: Arc<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    closed: AtomicBool,
    /// One token per event in delivery.
    passes: TaskTracker,
}

impl DrainGate {
    /// A pass for one delivery, or `None` once the gate is closed. The pass is taken before the
    /// flag is read, so a delivery either sees the gate closed or is waited for by
    /// [`DrainGate::finished`]; none falls between.
    fn enter(&self) -> Option<tokio_util::task::task_tracker::TaskTrackerToken> {
        let pass = self.inner.passes.token();
        (!self.inner.closed.load(Ordering::SeqCst)).then_some(pass)
    }

    /// Refuses every event from now on.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.passes.close();
    }

    /// Whether the gate was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the gate is closed and every delivery that got in has finished.
    pub async fn finished(&self) {
        self.inner.passes.wait().await;
    }

    /// Deliveries still running.
    pub fn in_flight(&self) -> usize {
        self.inner.passes.len()
    }
}

/// Wraps a service in [`Drain`].
#[derive(Debug, Clone)]
pub struct DrainLayer {
    gate: DrainGate,
}

impl DrainLayer {
    pub fn new(gate: DrainGate) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// Lets events through while the gate is open, each holding its pass until it is delivered.
#[derive(Debug, Clone)]
pub struct Drain<S> {
    inner: S,
    gate: DrainGate,
}

impl<S> Service<Event> for Drain<S>
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
        let Some(pass) = self.gate.enter() else {
            return futures_util::future::ready(Err(
                Box::new(DeliveryError::ShuttingDown) as BoxError
            ))
            .boxed();
        };
        let delivery = self.inner.call(event);
        async move {
            let result = delivery.await;
            drop(pass);
            result
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::NullSink;
    use tower::ServiceExt;

    fn event() -> Event {
        let cloud = crate::cloudevent::CloudEvent::new("1", "/s", "t");
        Event::new(cloud, "test", "t")
    }

    #[tokio::test]
    async fn refuses_after_close_and_waits_for_deliveries_inside() {
        let gate = DrainGate::default();
        let release = Arc::new(tokio::sync::Notify::new());
        let released = release.clone();
        let slow = tower::service_fn(move |_: Event| {
            let released = released.clone();
            async move {
                released.notified().await;
                Ok::<_, BoxError>(())
            }
        });
        let service = DrainLayer::new(gate.clone()).layer(slow);
        let inside = tokio::spawn(service.oneshot(event()));
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while gate.in_flight() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the delivery got in");
        gate.close();
        let refused = DrainLayer::new(gate.clone())
            .layer(NullSink)
            .oneshot(event())
            .await
            .expect_err("refused");
        assert!(matches!(
            DeliveryError::find(refused.as_ref()),
            Some(DeliveryError::ShuttingDown)
        ));
        let mut finished = std::pin::pin!(gate.finished());
        assert!(
            futures_util::poll!(finished.as_mut()).is_pending(),
            "waits for the delivery inside"
        );
        release.notify_one();
        inside.await.expect("task").expect("delivered");
        tokio::time::timeout(std::time::Duration::from_secs(5), finished)
            .await
            .expect("finished once the delivery is done");
    }
}
