//! Publishing into the hub when the backplane is on: a JetStream publish of the structured
//! event on `{stream}.{topic}`, confirmed by its PubAck. `Nats-Msg-Id` is `{source} {id}`, so a
//! publish retried inside the stream's duplicate window is stored once. While NATS is away the
//! publish fails at once as `Unavailable` (503 with Retry-After to an HTTP publisher).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::connection::State;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream;
use futures_util::future::BoxFuture;
use tower::Service;

use switchyard_core::cloudevent::content::STRUCTURED_JSON;
use switchyard_core::cloudevent::json;
use switchyard_core::event::Event;
use switchyard_core::{BoxError, DeliveryError};

use crate::convert::subject::subject_of;
use crate::error::unavailable;
use crate::outbound::publish_confirmed;

/// The name the hub sink has in errors and metrics.
const SINK: &str = "hub";

/// The hub sink on the backplane. Clones share one connection.
#[derive(Debug, Clone)]
pub struct BackplaneSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    context: jetstream::Context,
    stream: String,
    confirm_timeout: Duration,
}

impl BackplaneSink {
    pub(super) fn new(
        context: jetstream::Context,
        stream: String,
        confirm_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                context,
                stream,
                confirm_timeout,
            }),
        }
    }
}

impl Service<Event> for BackplaneSink {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .publish(&event)
                .await
                .map_err(|e| Box::new(e) as BoxError)
        })
    }
}

impl Inner {
    async fn publish(&self, event: &Event) -> Result<(), DeliveryError> {
        let topic = subject_of(&event.topic, false).map_err(|e| DeliveryError::InvalidTopic {
            sink: SINK.into(),
            reason: e.to_string(),
        })?;
        if self.context.client().connection_state() != State::Connected {
            return Err(unavailable(
                SINK,
                "the hub backplane (NATS) is not connected",
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", STRUCTURED_JSON);
        let id = format!("{} {}", event.cloud.source, event.cloud.id);
        headers.insert(NATS_MESSAGE_ID, id.as_str());
        let subject = format!("{}.{topic}", self.stream);
        let payload = json::to_vec(&event.cloud).into();
        let message = (subject, headers, payload);
        publish_confirmed(&self.context, SINK, message, self.confirm_timeout).await
    }
}
