//! A document server for tests: a real HTTP server on 127.0.0.1:0 answering every GET with
//! the body the test set last (a JWKS a test rotates), counting the requests; or, made with
//! [`DocumentServer::hanging`], one that accepts connections and never answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running document server; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct DocumentServer {
    pub addr: SocketAddr,
    body: Arc<Mutex<Bytes>>,
    requests: Arc<AtomicUsize>,
}

impl DocumentServer {
    /// Serves `body` with `content_type` to every request.
    pub async fn start(body: impl Into<Bytes>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Self {
            addr: listener.local_addr().expect("addr"),
            body: Arc::new(Mutex::new(body.into())),
            requests: Arc::default(),
        };
        let shared = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| shared.clone().answer(req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        server
    }

    /// Accepts connections and never answers (the connections stay open).
    pub async fn hanging() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `body` from now on.
    pub fn set(&self, body: impl Into<Bytes>) {
        *self.body.lock().expect("lock") = body.into();
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn answer(
        self,
        _request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let body = self.body.lock().expect("lock").clone();
        let mut response = Response::new(Full::new(body));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }
}
