//! The gRPC outbound runs the outbound conformance suite (`switchyard_testing::conformance`),
//! then its own rules: which codes are retried, what the last failure becomes, the request
//! each service gets, and readiness following the backend.
//!
//! The backend is an in-process tonic server on 127.0.0.1:0 serving `switchyard.v1.Gateway`
//! and `io.cloudevents.v1.CloudEventService`, scripted to confirm, fail with a given status or
//! hang. It stands in for a user's backend here; the end-to-end test against a Python grpcio
//! backend, through the built binary, is written separately (in `tests/`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::BoxStream;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tonic_health::ServingStatus;
use tower::ServiceExt;

use switchyard_core::cloudevent::Data;
use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::outbound::{Outbound, OutboundContext};
use switchyard_core::pipeline::Sink;
use switchyard_core::{BoxError, DeliveryError};
use switchyard_grpc::cloudevents_v1::cloud_event_service_server::{
    CloudEventService, CloudEventServiceServer,
};
use switchyard_grpc::cloudevents_v1::{self as ce, CloudEvent as PbEvent, SubscriptionRequest};
use switchyard_grpc::switchyard_v1::gateway_server::{Gateway, GatewayServer};
use switchyard_grpc::switchyard_v1::{
    CallRequest, CallResponse, LeaseRequest, LeaseResponse, PublishBatchRequest, PublishRequest,
    PublishResponse, SettleRequest, SettleResponse, SubscribeRequest,
};
use switchyard_grpc::{GrpcOutbound, GrpcOutboundConfig, SubscribeResponse};
use switchyard_testing::conformance::{OutboundFixture, check_outbound};
use switchyard_testing::{eventually, within};

/// How the backend answers one call.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Confirm,
    /// This code, with metadata `retry-after` (seconds) when given.
    Fail(Code, Option<u64>),
    /// Never answers (tonic's server answers CANCELLED once the call's `grpc-timeout` passes).
    Hang,
}

/// One call the backend received.
#[derive(Debug, Clone)]
struct Call {
    service: &'static str,
    /// `switchyard.v1.Gateway` only.
    topic: Option<String>,
    id: String,
    /// The call's `grpc-timeout`, as sent.
    deadline: Option<String>,
    confirmed: bool,
}

/// The scripted backend: answers the first calls from `script`, every later one with `then`.
#[derive(Debug)]
struct Backend {
    script: Mutex<VecDeque<Reply>>,
    then: Reply,
    calls: Mutex<Vec<Call>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("not poisoned")
}

impl Backend {
    fn new(script: impl IntoIterator<Item = Reply>, then: Reply) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into_iter().collect()),
            then,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    fn confirmed(&self) -> Vec<String> {
        let calls = lock(&self.calls);
        calls
            .iter()
            .filter(|c| c.confirmed)
            .map(|c| c.id.clone())
            .collect()
    }

    /// Records the call, then answers it as scripted (`ok` for a confirmation).
    async fn answer<T, M>(
        &self,
        service: &'static str,
        request: &Request<M>,
        (topic, event): (Option<String>, Option<&PbEvent>),
        ok: T,
    ) -> Result<Response<T>, Status> {
        let reply = lock(&self.script).pop_front().unwrap_or(self.then);
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        lock(&self.calls).push(Call {
            service,
            topic,
            id: event.map(|e| e.id.clone()).unwrap_or_default(),
            deadline,
            confirmed: matches!(reply, Reply::Confirm),
        });
        match reply {
            Reply::Confirm => Ok(Response::new(ok)),
            Reply::Fail(code, retry_after) => {
                let mut status = Status::new(code, format!("scripted {code:?}"));
                if let Some(seconds) = retry_after {
                    let value = MetadataValue::from(seconds);
                    status.metadata_mut().insert("retry-after", value);
                }
                Err(status)
            }
            Reply::Hang => std::future::pending().await,
        }
    }
}

#[tonic::async_trait]
impl Gateway for Backend {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let message = request.get_ref();
        let accepted = message.event.iter().map(|e| e.id.clone()).collect();
        let what = (Some(message.topic.clone()), message.event.as_ref());
        let ok = PublishResponse { accepted };
        self.answer("gateway", &request, what, ok).await
    }

    async fn publish_batch(
        &self,
        _: Request<PublishBatchRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(Status::unimplemented(
            "the outbound publishes one event a call",
        ))
    }

    async fn call(&self, _request: Request<CallRequest>) -> Result<Response<CallResponse>, Status> {
        Err(Status::unimplemented("a publish backend"))
    }

    async fn lease(
        &self,
        _request: Request<LeaseRequest>,
    ) -> Result<Response<LeaseResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    async fn ack(
        &self,
        _request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    async fn nack(
        &self,
        _request: Request<SettleRequest>,
    ) -> Result<Response<SettleResponse>, Status> {
        Err(Status::unimplemented("Publish only"))
    }

    type SubscribeStream = BoxStream<'static, Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        _: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("not a source"))
    }
}

#[tonic::async_trait]
impl CloudEventService for Backend {
    async fn publish(&self, request: Request<ce::PublishRequest>) -> Result<Response<()>, Status> {
        let event = request.get_ref().event.as_ref();
        self.answer("cloudevents", &request, (None, event), ())
            .await
    }

    type SubscribeStream = BoxStream<'static, Result<PbEvent, Status>>;

    async fn subscribe(
        &self,
        _: Request<SubscriptionRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented("not a source"))
    }
}

/// Both services of `backend`, without `grpc.health.v1` (a backend that lacks it is ready).
fn routes(backend: &Arc<Backend>) -> Routes {
    Routes::new(GatewayServer::from_arc(backend.clone()))
        .add_service(CloudEventServiceServer::from_arc(backend.clone()))
}

/// A backend being served.
struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Served {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops it as a restarting backend does: GOAWAY, calls finish, the listener closes.
    async fn stop(self) {
        self.stop.cancel();
        within("the backend to stop", self.task)
            .await
            .expect("the server task ends");
    }
}

async fn serve(routes: Routes, addr: &str) -> Served {
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    let stop = CancellationToken::new();
    let signal = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal)
            .await
            .expect("serves");
    });
    Served { addr, stop, task }
}

/// The outbound on `url`, started as the app starts it; `extra` overrides settings. Backoff
/// is short unless `extra` sets `retry`.
fn outbound(url: &str, extra: serde_json::Value) -> (Sink, Readiness) {
    let mut settings = serde_json::json!({"url": url, "retry": {"initial_ms": 10, "max_ms": 50}});
    if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        settings.extend(extra.clone());
    }
    let config: GrpcOutboundConfig = serde_json::from_value(settings).expect("valid config");
    let plan = GrpcOutbound::build("backend", &config).expect("builds");
    let readiness = Readiness::default();
    let ready = readiness.register("outbound:backend");
    let sink = Box::new(plan).start(OutboundContext {
        name: "backend".into(),
        ready,
    });
    (sink, readiness)
}

#[derive(Default)]
struct Fixture {
    live: Option<Arc<Backend>>,
    servers: Vec<Served>,
}

/// Above the encoded size of the suite's ordinary events, below its uncarriable one.
const LIVE_MAX_MESSAGE_BYTES: usize = 16 * 1024;

impl OutboundFixture for Fixture {
    async fn live(&mut self) -> (Sink, Readiness) {
        let backend = Backend::new([], Reply::Confirm);
        let served = serve(routes(&backend), "127.0.0.1:0").await;
        let limit = serde_json::json!({"max_message_bytes": LIVE_MAX_MESSAGE_BYTES});
        let live = outbound(&served.url(), limit);
        self.live = Some(backend);
        self.servers.push(served);
        live
    }

    async fn received(&mut self) -> Vec<String> {
        self.live
            .as_ref()
            .map(|b| b.confirmed())
            .unwrap_or_default()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        Some(outbound("http://127.0.0.1:1", serde_json::json!({})))
    }

    async fn silent(&mut self) -> Option<Sink> {
        let backend = Backend::new([], Reply::Hang);
        let served = serve(routes(&backend), "127.0.0.1:0").await;
        let (sink, _) = outbound(&served.url(), serde_json::json!({"timeout_ms": 300}));
        self.servers.push(served);
        Some(sink)
    }

    fn uncarriable(&self) -> Option<Event> {
        let mut event = self.event("too-large");
        event.cloud.datacontenttype = Some("application/octet-stream".into());
        event.cloud.data = Some(Data::Binary(vec![7; 2 * LIVE_MAX_MESSAGE_BYTES].into()));
        Some(event)
    }
}

#[tokio::test]
async fn the_grpc_outbound_conforms() {
    let mut fixture = Fixture::default();
    check_outbound(&mut fixture).await;
    fixture
        .servers
        .iter()
        .for_each(|served| served.task.abort());
}

/// One delivery of event `id` to a backend answering `script`, then `then`.
async fn deliver(
    script: impl IntoIterator<Item = Reply>,
    then: Reply,
    extra: serde_json::Value,
) -> (Result<(), BoxError>, Vec<Call>) {
    let backend = Backend::new(script, then);
    let served = serve(routes(&backend), "127.0.0.1:0").await;
    let (sink, _) = outbound(&served.url(), extra);
    let answer = within(
        "the delivery",
        sink.oneshot(Fixture::default().event("e-1")),
    )
    .await;
    served.task.abort();
    (answer, backend.calls())
}

fn kind(answer: &Result<(), BoxError>) -> &DeliveryError {
    let error = answer.as_ref().expect_err("not confirmed");
    DeliveryError::find(error.as_ref()).unwrap_or_else(|| panic!("unclassified: {error}"))
}

#[tokio::test]
async fn transient_codes_are_retried_until_the_backend_confirms() {
    let script = [
        Reply::Fail(Code::Unavailable, None),
        Reply::Fail(Code::ResourceExhausted, None),
    ];
    let (answer, calls) = deliver(script, Reply::Confirm, serde_json::json!({})).await;
    answer.expect("confirmed on the third attempt");
    let ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["e-1", "e-1", "e-1"], "{calls:?}");
}

#[tokio::test]
async fn other_codes_are_rejected_at_once_with_code_and_message() {
    for code in [
        Code::InvalidArgument,
        Code::FailedPrecondition,
        Code::NotFound,
        Code::Internal,
        Code::Unknown,
    ] {
        let (answer, calls) = deliver([], Reply::Fail(code, None), serde_json::json!({})).await;
        let DeliveryError::Rejected { reason, .. } = kind(&answer) else {
            panic!("{code:?} must be Rejected: {answer:?}");
        };
        assert_eq!(calls.len(), 1, "{code:?} must not be retried");
        let name = match code {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::NotFound => "NOT_FOUND",
            Code::Internal => "INTERNAL",
            _ => "UNKNOWN",
        };
        assert!(reason.contains(name), "{reason}");
        assert!(reason.contains(&format!("scripted {code:?}")), "{reason}");
    }
}

#[tokio::test]
async fn unavailable_after_the_attempts_carries_the_backend_s_retry_after() {
    let retry = serde_json::json!({"retry": {"attempts": 2, "initial_ms": 10, "max_ms": 2000}});
    let (answer, calls) = deliver([], Reply::Fail(Code::Unavailable, Some(1)), retry).await;
    let DeliveryError::Unavailable {
        retry_after,
        reason,
        ..
    } = kind(&answer)
    else {
        panic!("must be Unavailable: {answer:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(1)));
    assert!(
        reason.contains("UNAVAILABLE") && reason.contains("after 2 attempts"),
        "{reason}"
    );
    assert_eq!(calls.len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_backoff_cap_is_left_to_the_source() {
    let (answer, calls) = deliver(
        [],
        Reply::Fail(Code::Unavailable, Some(30)),
        serde_json::json!({}),
    )
    .await;
    assert!(matches!(
        kind(&answer),
        DeliveryError::Unavailable { retry_after: Some(after), .. } if *after == Duration::from_secs(30)
    ));
    assert_eq!(calls.len(), 1, "waiting 30 s is the source's business");
}

#[tokio::test]
async fn resource_exhausted_after_the_attempts_is_unavailable() {
    let (answer, calls) = deliver(
        [],
        Reply::Fail(Code::ResourceExhausted, None),
        serde_json::json!({}),
    )
    .await;
    assert!(
        matches!(kind(&answer), DeliveryError::Unavailable { .. }),
        "{answer:?}"
    );
    assert_eq!(calls.len(), 3, "three attempts by default");
}

#[tokio::test]
async fn deadline_exceeded_and_a_hanging_backend_are_timeouts() {
    let (answer, calls) = deliver(
        [],
        Reply::Fail(Code::DeadlineExceeded, None),
        serde_json::json!({}),
    )
    .await;
    assert!(
        matches!(kind(&answer), DeliveryError::Timeout { .. }),
        "{answer:?}"
    );
    assert_eq!(calls.len(), 3);
    let hang = serde_json::json!({"timeout_ms": 200, "retry": {"attempts": 2, "initial_ms": 10}});
    let (answer, calls) = deliver([], Reply::Hang, hang).await;
    assert!(
        matches!(kind(&answer), DeliveryError::Timeout { timeout, .. } if *timeout == Duration::from_millis(200)),
        "{answer:?}"
    );
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].deadline.as_deref(), Some("200000u"));
}

#[tokio::test]
async fn each_service_gets_its_request() {
    let (answer, calls) = deliver([], Reply::Confirm, serde_json::json!({})).await;
    answer.expect("confirmed");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].service, "gateway");
    assert_eq!(calls[0].topic.as_deref(), Some("conformance/events"));
    assert_eq!(calls[0].id, "e-1");
    assert_eq!(
        calls[0].deadline.as_deref(),
        Some("5000000u"),
        "the default deadline, 5 s"
    );

    let cloudevents = serde_json::json!({"service": "cloudevents"});
    let (answer, calls) = deliver([], Reply::Confirm, cloudevents).await;
    answer.expect("confirmed");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].service, calls[0].id.as_str()),
        ("cloudevents", "e-1")
    );
    assert_eq!(calls[0].topic, None);
}

#[tokio::test]
async fn readiness_follows_the_backend_away_and_back() {
    let backend = Backend::new([], Reply::Confirm);
    let served = serve(routes(&backend), "127.0.0.1:0").await;
    let addr = served.addr.to_string();
    let (sink, readiness) = outbound(&served.url(), serde_json::json!({}));
    let report = readiness.clone();
    eventually("ready with the backend up", move || report.report().0).await;

    served.stop().await;
    let report = readiness.clone();
    eventually("not ready with the backend gone", move || {
        !report.report().0
    })
    .await;
    let answer = within(
        "a delivery without backend",
        sink.clone().oneshot(event("gone")),
    )
    .await;
    assert!(
        matches!(kind(&answer), DeliveryError::Unavailable { .. }),
        "{answer:?}"
    );

    // The same address again: the channel reconnects by itself.
    let served = serve(routes(&backend), &addr).await;
    let report = readiness.clone();
    eventually("ready once the backend is back", move || report.report().0).await;
    within("a delivery after the restart", sink.oneshot(event("back")))
        .await
        .expect("confirmed");
    assert_eq!(backend.confirmed(), ["back"]);
    served.task.abort();
}

#[tokio::test]
async fn readiness_follows_the_backend_s_health_service() {
    let backend = Backend::new([], Reply::Confirm);
    let (reporter, health) = tonic_health::server::health_reporter();
    let served = serve(routes(&backend).add_service(health), "127.0.0.1:0").await;
    let (_sink, readiness) = outbound(&served.url(), serde_json::json!({}));
    let report = readiness.clone();
    eventually("ready while SERVING", move || report.report().0).await;
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let report = readiness.clone();
    eventually("not ready while NOT_SERVING", move || !report.report().0).await;
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    eventually("ready again", move || readiness.report().0).await;
    served.task.abort();
}

fn event(id: &str) -> Event {
    Fixture::default().event(id)
}
