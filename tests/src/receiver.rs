//! A webhook receiver for tests: a real HTTP server on 127.0.0.1:0 that records every request
//! and answers with the status a test chooses per request, optionally after a delay (a slow
//! sink), counting how many requests it holds at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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
    /// Requests being answered right now.
    pub in_flight: Arc<AtomicUsize>,
    /// The most requests ever held at once.
    pub max_in_flight: Arc<AtomicUsize>,
    /// For a receiver made by [`Receiver::start_held`]: each request takes a permit first.
    hold: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .finish()
    }
}

/// State shared by the receiver's connections.
struct Shared {
    respond: Box<Responder>,
    delay: Duration,
    received: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    hold: Option<Arc<Semaphore>>,
}

impl Receiver {
    /// Holds every request (counted in `in_flight`) until [`release`](Self::release) lets it
    /// through, then answers 200.
    pub async fn start_held() -> Self {
        Self::start_inner(
            Duration::ZERO,
            Some(Arc::new(Semaphore::new(0))),
            |_, _, _| 200,
        )
        .await
    }

    /// Lets `n` held requests be answered.
    pub fn release(&self, n: usize) {
        self.hold.as_ref().expect("a held receiver").add_permits(n);
    }

    /// Answers every request with 200.
    pub async fn start() -> Self {
        Self::start_with(|_, _, _| 200).await
    }

    /// Answers request number `n` (from 0) with `respond(n, headers, body)`.
    pub async fn start_with(
        respond: impl Fn(usize, &HeaderMap, &Bytes) -> u16 + Send + Sync + 'static,
    ) -> Self {
        Self::start_full(Duration::ZERO, respond).await
    }

    /// Answers every request with 200 after `delay`.
    pub async fn start_slow(delay: Duration) -> Self {
        Self::start_full(delay, |_, _, _| 200).await
    }

    async fn start_full(
        delay: Duration,
        respond: impl Fn(usize, &HeaderMap, &Bytes) -> u16 + Send + Sync + 'static,
    ) -> Self {
        Self::start_inner(delay, None, respond).await
    }

    async fn start_inner(
        delay: Duration,
        hold: Option<Arc<Semaphore>>,
        respond: impl Fn(usize, &HeaderMap, &Bytes) -> u16 + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            respond: Box::new(respond),
            delay,
            received: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            hold: hold.clone(),
        });
        let receiver = Self {
            addr,
            received: shared.received.clone(),
            in_flight: shared.in_flight.clone(),
            max_in_flight: shared.max_in_flight.clone(),
            hold,
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
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

async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    tokio::time::sleep(shared.delay).await;
    if let Some(hold) = &shared.hold
        && let Ok(permit) = hold.acquire().await
    {
        permit.forget();
    }
    let status = {
        let mut log = shared.received.lock().expect("lock");
        let status = (shared.respond)(log.len(), &parts.headers, &body);
        log.push(Received {
            headers: parts.headers,
            body,
            status,
        });
        status
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = http::StatusCode::from_u16(status).expect("status");
    Ok(res)
}
