//! The gRPC listener as an inbound: `switchyard.v1.Gateway`, `io.cloudevents.v1.CloudEventService`,
//! `grpc.health.v1.Health` and server reflection on one tonic server. Like the HTTP family, it
//! stops accepting (and sends GOAWAY) when the drain starts, lets calls under way finish, and
//! ends its subscription streams with UNAVAILABLE in the drain's last phase.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use switchyard_core::auth::Authenticator;
use switchyard_core::health::Readiness;
use switchyard_core::hub::Hub;
use switchyard_core::inbound::{Inbound, InboundContext};

use crate::cloudevent_service::CloudEventServiceImpl;
use crate::config::GrpcConfig;
use crate::proto::DESCRIPTORS;
use crate::proto::cloudevents_v1::cloud_event_service_server::CloudEventServiceServer;
use crate::proto::switchyard_v1::gateway_server::GatewayServer;
use crate::publish::GatewayService;
use crate::shared::Shared;
use crate::{health, size_limit};

/// The gRPC listener, bound and ready to run.
#[derive(Debug)]
pub struct GrpcInbound {
    pub listener: TcpListener,
    pub hub: Hub,
    pub config: Arc<GrpcConfig>,
    /// The gateway's readiness, which `grpc.health.v1.Health` reports.
    pub readiness: Readiness,
    /// Cancelled in the drain's last phase: subscription and health-watch streams end.
    pub streams_end: CancellationToken,
    /// Where the server's task is tracked, so the drain waits for its connections to close.
    pub connections: TaskTracker,
    /// `None`: open.
    pub auth: Authenticator,
    /// Deadlines of `Call`.
    pub rpc: std::sync::Arc<switchyard_core::rpc::RpcConfig>,
    /// The work queues `Lease`, `Ack` and `Nack` serve.
    pub queues: switchyard_core::queue::Queues,
    /// TLS, when `grpc.tls` is set.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Inbound for GrpcInbound {
    fn run(self: Box<Self>, ctx: InboundContext) -> BoxFuture<'static, ()> {
        let shared = Shared {
            pipeline: ctx.pipeline,
            hub: self.hub,
            inbound: ctx.name,
            streams_end: self.streams_end.clone(),
            auth: self.auth,
            rpc: self.rpc,
            queues: self.queues,
        };
        // Ready before health starts following readiness: its first report must not race
        // this flag (the listener is bound; connections wait in its backlog meanwhile).
        ctx.ready.set(true);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        tokio::spawn(health::follow(
            self.readiness,
            reporter,
            ctx.shutdown.clone(),
            self.streams_end,
        ));
        let server = serve(
            shared,
            (self.listener, self.tls),
            &self.config,
            health_service,
            ctx.shutdown.clone(),
        );
        self.connections.spawn(server);
        Box::pin(async move {
            ctx.shutdown.cancelled().await;
            ctx.ready.set(false);
        })
    }
}

/// The tonic server until `accepting` is cancelled and its last connection closed.
fn serve(
    shared: Shared,
    (listener, tls): (TcpListener, Option<tonic::transport::ServerTlsConfig>),
    config: &GrpcConfig,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    accepting: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let limit = config.max_message_bytes;
    let gateway =
        GatewayServer::new(GatewayService(shared.clone())).max_decoding_message_size(limit);
    let cloudevents = CloudEventServiceServer::new(CloudEventServiceImpl(shared))
        .max_decoding_message_size(limit);
    // Both versions: grpcurl and newer tools ask v1, grpcio-reflection and older ones v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTORS)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection()
        .build_v1()
        .and_then(|v1| Ok((v1, reflection().build_v1alpha()?)));
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = match builder.tls_config(tls) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!(%error, "gRPC TLS set-up failed; the listener does not serve");
                return futures_util::future::Either::Left(std::future::ready(()));
            }
        };
    }
    let router = builder
        .max_concurrent_streams(config.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_millis(config.keepalive_interval_ms)))
        .http2_keepalive_timeout(Some(Duration::from_millis(config.keepalive_timeout_ms)))
        .layer(size_limit::layer())
        .add_service(health)
        .add_service(gateway)
        .add_service(cloudevents);
    let router = match reflection {
        Ok((v1, v1alpha)) => router.add_service(v1).add_service(v1alpha),
        Err(error) => {
            tracing::error!(%error, "gRPC reflection is off: the descriptors do not load");
            router
        }
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    futures_util::future::Either::Right(async move {
        if let Err(error) = router
            .serve_with_incoming_shutdown(incoming, accepting.cancelled_owned())
            .await
        {
            tracing::error!(%error, "gRPC server failed");
        }
    })
}
