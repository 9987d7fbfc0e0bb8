//! One accepted connection: hyper serves it with the app; its requests can reach the
//! connection's slot (a WebSocket keeps it after the upgrade) and can ask for the connection
//! to be dropped (a stream whose client stopped reading).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower::util::MapRequest;

use crate::body_timeout::TimedBody;
use crate::request_guard::RequestGuardLayer;
use crate::tls::Tls;

/// How long a connection asked to disconnect may still write (the closing SSE event of a
/// client that reads slowly) before it is dropped.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// The client certificate the connection's TLS handshake verified (DER), in every request's
/// extensions, for authentication (`auth.mtls`).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub bytes::Bytes);

/// The connection-limit slot of one connection, reachable from its requests: a WebSocket
/// takes it over at its upgrade, when hyper lets go of the connection, so the limit keeps
/// counting it. Cancelling its `disconnect` token drops the connection.
#[derive(Debug, Clone)]
pub struct ConnectionSlot {
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    disconnect: CancellationToken,
}

impl ConnectionSlot {
    /// The slot, for whoever keeps the connection open after this request.
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.permit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Cancel it to drop the connection, whatever its buffers hold: the hub cancels it when a
    /// stream's subscriber fell too far behind to be written to.
    pub fn disconnect_token(&self) -> CancellationToken {
        self.disconnect.clone()
    }
}

pub(super) struct Connection {
    /// Taken by [`Connection::serve`].
    pub(super) stream: Option<TcpStream>,
    pub(super) peer: SocketAddr,
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) app: Router,
    pub(super) builder: Arc<http1::Builder>,
    pub(super) body_read_timeout: Duration,
    /// The drain's second step: finish the current response, then close.
    pub(super) shutdown: CancellationToken,
    pub(super) tls: Option<Tls>,
}

impl Connection {
    pub(super) async fn serve(mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        match self.tls.take() {
            None => self.serve_io(TokioIo::new(stream), None).await,
            Some(tls) => {
                let peer = self.peer;
                let handshake =
                    tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(stream)) => {
                        let certificate = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|chain| chain.first())
                            .map(|leaf| PeerCertificate(bytes::Bytes::copy_from_slice(leaf)));
                        self.serve_io(TokioIo::new(stream), certificate).await;
                    }
                    Ok(Err(error)) => {
                        metrics::counter!("switchyard_tls_handshake_failures_total", "reason" => "error").increment(1);
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                    }
                    Err(_) => {
                        metrics::counter!("switchyard_tls_handshake_failures_total", "reason" => "timeout").increment(1);
                        tracing::debug!(%peer, "TLS handshake timed out");
                    }
                }
            }
        }
    }

    async fn serve_io<I>(self, io: TokioIo<I>, certificate: Option<PeerCertificate>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let slot = ConnectionSlot {
            permit: Arc::new(Mutex::new(Some(self.permit))),
            disconnect: CancellationToken::new(),
        };
        let for_requests = slot.clone();
        let gap = self.body_read_timeout;
        // The guard wraps every route of every listener (admin and reserve included), so a bad
        // Host or an undecodable transfer coding is refused before any extractor reads it.
        let app = RequestGuardLayer.layer(self.app);
        let service =
            TowerToHyperService::new(MapRequest::new(app, move |req: Request<Incoming>| {
                let mut req = req.map(|body| Body::new(TimedBody::new(body, gap)));
                req.extensions_mut().insert(for_requests.clone());
                if let Some(certificate) = &certificate {
                    req.extensions_mut().insert(certificate.clone());
                }
                req
            }));
        let connection = self.builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(connection);
        let peer = self.peer;
        let result = tokio::select! {
            r = connection.as_mut() => r,
            () = self.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
            () = slot.disconnect.cancelled() => {
                metrics::counter!("switchyard_http_disconnects_total", "reason" => "slow_consumer").increment(1);
                match tokio::time::timeout(DISCONNECT_GRACE, connection.as_mut()).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::debug!(%peer, "dropping a connection whose client stopped reading");
                        return;
                    }
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(%peer, error = %err, "connection ended with an error");
        }
        drop(slot);
    }
}
