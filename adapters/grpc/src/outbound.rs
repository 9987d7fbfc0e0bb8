//! The gRPC outbound: a `tower::Service<Event>` that makes each event one unary `Publish` call
//! to a backend (`switchyard.v1.Gateway` or `io.cloudevents.v1.CloudEventService`) and
//! confirms it only when the backend answers OK.
//!
//! - One HTTP/2 channel for every call, opened lazily: `start` never blocks, and tonic
//!   reconnects by itself after the backend went away. HTTP/2 PINGs find a connection whose
//!   peer vanished without closing it.
//! - Each attempt has a deadline, sent as `grpc-timeout` so the backend can give up too, and
//!   enforced here. Failures that may heal are retried with capped, jittered backoff, as the
//!   webhook does; which ones, and what the last becomes, is `failure.rs`. An event larger
//!   than `max_message_bytes` is `TooLarge` before anything is sent.
//! - A request (`POST /rpc`) to a `switchyard.v1.Gateway` backend is its `Call`; the
//!   `CallResponse` is the reply. A `cloudevents` backend cannot answer requests.
//! - Readiness: `health.rs` checks the backend in the background; deliveries set it too
//!   (false when the channel cannot connect, true on a confirmation).

mod config;
mod failure;
mod health;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use prost::Message as _;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use tower::Service;
use tower::util::BoxCloneSyncService;

use switchyard_core::cloudevent::protobuf;
use switchyard_core::event::Event;
use switchyard_core::health::ReadinessCheck;
use switchyard_core::outbound::{Outbound, OutboundContext, count_attempt};
use switchyard_core::pipeline::Sink;
use switchyard_core::retry::RetryPolicy;
use switchyard_core::rpc::Reply;
use switchyard_core::{BoxError, DeliveryError};

use crate::proto::cloudevents_v1::cloud_event_service_client::CloudEventServiceClient;
use crate::proto::switchyard_v1::gateway_client::GatewayClient;
use crate::proto::{cloudevents_v1, switchyard_v1};
use config::GRPC_RETRY;
pub use config::{GrpcOutboundConfig, GrpcService};
use failure::Failure;

/// PING after this long without frames, idle or not: finds a dead connection between
/// deliveries instead of on the next one.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A PING unanswered for this long closes the connection (its calls fail as UNAVAILABLE).
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running gRPC outbound, the sink. Clones share one channel; the readiness task stops
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct GrpcOutbound {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    service: GrpcService,
    /// The one HTTP/2 channel, shared with the readiness task.
    channel: Channel,
    /// Per attempt.
    timeout: Duration,
    retry: RetryPolicy,
    max_message_bytes: usize,
    ready: ReadinessCheck,
    /// Cancels the readiness task when the sink (its last clone) is dropped.
    _health: DropGuard,
}

/// A validated gRPC outbound, not yet connected (see [`Outbound`]).
#[derive(Debug)]
pub struct GrpcOutboundPlan {
    name: String,
    service: GrpcService,
    endpoint: Endpoint,
    timeout: Duration,
    retry: RetryPolicy,
    max_message_bytes: usize,
}

impl GrpcOutbound {
    /// Compiles `config` (errors name keys under `outbounds.NAME`); done once, at `check` time.
    pub fn build(name: &str, config: &GrpcOutboundConfig) -> Result<GrpcOutboundPlan, Vec<String>> {
        let path = format!("outbounds.{name}");
        let errors = config.validate(&path);
        if !errors.is_empty() {
            return Err(errors);
        }
        let endpoint = Endpoint::from_shared(config.url.clone())
            .map_err(|e| vec![format!("{path}.url: {e}")])?
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        Ok(GrpcOutboundPlan {
            name: name.to_owned(),
            service: config.service,
            endpoint,
            timeout: Duration::from_millis(config.timeout_ms),
            retry: config.retry.resolve(GRPC_RETRY),
            max_message_bytes: config.max_message_bytes,
        })
    }
}

impl Outbound for GrpcOutboundPlan {
    fn start(self: Box<Self>, ctx: OutboundContext) -> Sink {
        BoxCloneSyncService::new(self.launch(ctx.ready).0)
    }
}

impl GrpcOutboundPlan {
    /// The sink, and the readiness task following the backend on its channel (inside a tokio
    /// runtime; nothing connects until the first call or check).
    fn launch(self, ready: ReadinessCheck) -> (GrpcOutbound, tokio::task::JoinHandle<()>) {
        let channel = self.endpoint.connect_lazy();
        let stop = CancellationToken::new();
        let task = tokio::spawn(health::follow(
            channel.clone(),
            ready.clone(),
            self.timeout,
            stop.clone(),
        ));
        let inner = Inner {
            name: self.name,
            service: self.service,
            channel,
            timeout: self.timeout,
            retry: self.retry,
            max_message_bytes: self.max_message_bytes,
            ready,
            _health: stop.drop_guard(),
        };
        let outbound = GrpcOutbound {
            inner: Arc::new(inner),
        };
        (outbound, task)
    }
}

impl Service<Event> for GrpcOutbound {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Never waits: the channel queues calls itself, under each attempt's deadline.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: Event) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            inner
                .deliver(&event)
                .await
                .map_err(|e| Box::new(e) as BoxError)
        })
    }
}

/// The request of one delivery: made once, cloned for each attempt.
#[derive(Debug, Clone)]
enum Publish {
    Gateway(switchyard_v1::PublishRequest),
    CloudEvents(cloudevents_v1::PublishRequest),
    /// A request (`POST /rpc`) to a `switchyard.v1.Gateway` backend: its `Call` answers.
    Call(switchyard_v1::CallRequest),
}

impl Publish {
    fn new(service: GrpcService, event: &Event) -> Self {
        let cloud = Some(protobuf::to_proto(&event.cloud));
        match service {
            GrpcService::Gateway if event.reply.is_some() => {
                Self::Call(switchyard_v1::CallRequest {
                    topic: event.topic.to_string(),
                    event: cloud,
                })
            }
            GrpcService::Gateway => Self::Gateway(switchyard_v1::PublishRequest {
                topic: event.topic.to_string(),
                event: cloud,
            }),
            GrpcService::CloudEvents => {
                Self::CloudEvents(cloudevents_v1::PublishRequest { event: cloud })
            }
        }
    }

    /// The message's size as the backend's size limit counts it (without the 5-byte frame
    /// header).
    fn encoded_len(&self) -> usize {
        match self {
            Self::Gateway(message) => message.encoded_len(),
            Self::CloudEvents(message) => message.encoded_len(),
            Self::Call(message) => message.encoded_len(),
        }
    }

    /// One call on `channel`, with `deadline` as its `grpc-timeout`; a `Call`'s reply.
    async fn send(self, channel: Channel, deadline: Duration) -> Result<Option<Answer>, Status> {
        fn with_deadline<T>(message: T, deadline: Duration) -> Request<T> {
            let mut request = Request::new(message);
            request.set_timeout(deadline);
            request
        }
        match self {
            Self::Gateway(message) => GatewayClient::new(channel)
                .publish(with_deadline(message, deadline))
                .await
                .map(|_| None),
            Self::CloudEvents(message) => CloudEventServiceClient::new(channel)
                .publish(with_deadline(message, deadline))
                .await
                .map(|_| None),
            Self::Call(message) => GatewayClient::new(channel)
                .call(with_deadline(message, deadline))
                .await
                .map(|response| Some(reply(response.into_inner()))),
        }
    }
}

/// What a backend's `Call` answered: the reply, or why it cannot be one.
type Answer = Result<Reply, String>;

fn reply(response: switchyard_v1::CallResponse) -> Answer {
    use switchyard_v1::call_response::Reply as Pb;
    match response.reply {
        Some(Pb::Event(event)) => protobuf::from_proto(event)
            .map(Reply::Event)
            .map_err(|e| format!("the reply is not a valid CloudEvent: {e}")),
        Some(Pb::Raw(raw)) => Ok(Reply::Body {
            content_type: (!raw.content_type.is_empty()).then_some(raw.content_type),
            body: raw.body.into(),
        }),
        None => Err("the CallResponse holds no reply".into()),
    }
}

impl Inner {
    async fn deliver(&self, event: &Event) -> Result<(), DeliveryError> {
        let request = Publish::new(self.service, event);
        let size = request.encoded_len();
        if size > self.max_message_bytes {
            let error = DeliveryError::TooLarge {
                sink: self.name.clone(),
                reason: format!(
                    "the request is {size} bytes encoded, over max_message_bytes ({})",
                    self.max_message_bytes
                ),
            };
            count_attempt(&self.name, Err(Some(&error)));
            return Err(error);
        }
        let attempts = self.retry.max_attempts();
        let mut backoff = self.retry.backoff();
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(request.clone()).await;
            let counted = outcome.as_ref().map(drop).map_err(|f| Some(&f.error));
            count_attempt(&self.name, counted);
            let failure = match outcome {
                Ok(answer) => return self.answer(event, answer),
                Err(failure) if !failure.transient => return Err(failure.error),
                Err(failure) => failure,
            };
            let asked = failure.retry_after();
            // A backend that wants more time than the backoff's cap: the source is told, and
            // waits without this delivery holding its place.
            if attempt >= attempts || asked.is_some_and(|after| after > self.retry.max) {
                return Err(failure.into_last(attempt));
            }
            tracing::debug!(outbound = %self.name, attempt, error = %failure.error, "gRPC attempt failed");
            tokio::time::sleep(backoff.next_delay(asked.unwrap_or_default())).await;
            attempt += 1;
        }
    }

    /// Hands a `Call`'s reply to the request's caller.
    fn answer(&self, event: &Event, answer: Option<Answer>) -> Result<(), DeliveryError> {
        match (answer, &event.reply) {
            (Some(Ok(reply)), Some(reply_to)) => {
                reply_to.send(reply);
                Ok(())
            }
            (Some(Err(reason)), _) => Err(DeliveryError::BadReply {
                sink: self.name.clone(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// One call within the deadline; readiness follows what it shows of the channel.
    async fn attempt(&self, request: Publish) -> Result<Option<Answer>, Failure> {
        let started = Instant::now();
        let call = request.send(self.channel.clone(), self.timeout);
        let failure = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => {
                self.ready.set(true);
                return Ok(answer);
            }
            Ok(Err(status)) => Failure::of(&status, started.elapsed(), &self.name, self.timeout),
            Err(_) => Failure::timeout(&self.name, self.timeout),
        };
        if failure.disconnected {
            self.ready.set(false);
        }
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::health::Readiness;
    use switchyard_testing::within;

    fn plan(url: &str) -> GrpcOutboundPlan {
        let config: GrpcOutboundConfig =
            serde_json::from_value(serde_json::json!({ "url": url })).expect("valid shape");
        GrpcOutbound::build("backend", &config).expect("builds")
    }

    #[tokio::test]
    async fn the_readiness_task_ends_with_the_sink() {
        let ready = Readiness::default().register("backend");
        let (outbound, task) = plan("http://127.0.0.1:1").launch(ready);
        let clone = outbound.clone();
        drop(outbound);
        assert!(!task.is_finished(), "a clone still holds the sink");
        drop(clone);
        within("the readiness task to stop", task)
            .await
            .expect("the task ends without panicking");
    }
}
