//! A Server-Sent Events reader for tests: splits the stream into events as EventSource would.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// One dispatched SSE event (or a comment, when `comment` is set).
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
    pub retry: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {}", self.data))
    }
}

/// An open SSE stream.
#[derive(Debug)]
pub struct SseStream {
    pub status: u16,
    pub headers: http::HeaderMap,
    body: Incoming,
    buffer: String,
    ready: VecDeque<SseEvent>,
}

impl SseStream {
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut req = Request::get(url).header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = client
            .request(req.body(Empty::new()).expect("request"))
            .await
            .expect("connect SSE");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        Self {
            status,
            headers,
            body: res.into_body(),
            buffer: String::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next event or comment; `None` when the stream ended. Panics after `within`.
    pub async fn next_any(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next_inner())
            .await
            .expect("SSE event within deadline")
    }

    /// The next real event (comments and retry-only blocks skipped).
    pub async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next_any(left).await?;
            if !e.data.is_empty() || e.event.is_some() {
                return Some(e);
            }
        }
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
                self.split();
            }
        }
    }

    fn split(&mut self) {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = SseEvent::default();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(c) = line.strip_prefix(':') {
                    event.comment = Some(c.trim().to_owned());
                } else if let Some((field, value)) = line.split_once(':') {
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match field {
                        "id" => event.id = Some(value),
                        "event" => event.event = Some(value),
                        "data" => data.push(value),
                        "retry" => event.retry = Some(value),
                        _ => {}
                    }
                }
            }
            event.data = data.join("\n");
            self.ready.push_back(event);
        }
    }
}
