//! A webhook receiver for tests: a real HTTP server on 127.0.0.1:0 that records every request
//! and answers with the status a test chooses per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub status: u16,
}

type Responder = dyn Fn(usize, &HeaderMap, &Bytes) -> u16 + Send + Sync;

/// A running receiver; stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Receiver {
    /// Answers every request with 200.
    pub async fn start() -> Self {
        Self::start_with(|_, _, _| 200).await
    }

    /// Answers request number `n` (from 0) with `respond(n, headers, body)`.
    pub async fn start_with(
        respond: impl Fn(usize, &HeaderMap, &Bytes) -> u16 + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (log, respond) = (log.clone(), respond.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (log, respond) = (log.clone(), respond.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let mut log = log.lock().expect("lock");
                            let status = respond(log.len(), &parts.headers, &body);
                            log.push(Received {
                                headers: parts.headers,
                                body,
                                status,
                            });
                            let mut res = Response::new(Full::new(Bytes::new()));
                            *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The requests answered with 2xx so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .cloned()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }
}
