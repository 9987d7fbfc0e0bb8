//! Server-Sent Events: one structured CloudEvent per SSE event, `id:` the hub cursor, resume by
//! `Last-Event-ID` or `?since=`. Events that queue up while the socket is busy are written
//! together in one chunk (one write syscall for many events).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::stream;

use switchyard_core::hub::{CloseReason, SubscribeOptions, Subscription};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::server::ConnectionSlot;
use crate::state::HttpState;
use crate::subscribe::SubscribeRequest;

/// Bytes gathered into one chunk before it is handed to the socket.
const COALESCE_BYTES: usize = 64 * 1024;

pub(crate) fn stream(
    state: HttpState,
    request: SubscribeRequest,
    headers: &HeaderMap,
    slot: Option<ConnectionSlot>,
) -> Result<Response, ApiError> {
    let since = match headers.get("last-event-id") {
        Some(v) => Some(parse_cursor(v)?),
        None => request.query.since,
    };
    let options = SubscribeOptions {
        since,
        group: request.query.group,
    };
    let mut subscription = state.hub.subscribe(request.filter, options);
    subscription.hold(request.place);
    // A client that stops reading is not polled any more, so its stream cannot notice the
    // hub closing it: the hub drops the connection itself, and with it the bytes its buffers
    // hold (the WebSocket's write-buffer bound does the same for WebSockets).
    if let Some(slot) = slot {
        subscription.cancel_on_close(slot.disconnect_token());
    }
    let feed = Feed {
        subscription,
        shutdown: state.shutdown.clone(),
        keepalive: Duration::from_millis(state.config.sse_keepalive_ms.max(1)),
        preamble: Some(Bytes::from(format!(
            "retry: {}\n: subscribed\n\n",
            state.config.sse_retry_ms
        ))),
        done: false,
    };
    let body = Body::from_stream(stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), feed))
    }));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx-style proxies in front not to buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn parse_cursor(value: &HeaderValue) -> Result<u64, ApiError> {
    value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "Last-Event-ID must be a cursor (an integer)",
            )
        })
}

struct Feed {
    subscription: Subscription,
    shutdown: CancellationToken,
    keepalive: Duration,
    preamble: Option<Bytes>,
    done: bool,
}

impl Feed {
    /// The next chunk to write, or `None` when the stream ends (drain or hub close).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(preamble) = self.preamble.take() {
            return Some(preamble);
        }
        if self.done {
            return None;
        }
        let received = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return self.flush(),
            r = tokio::time::timeout(self.keepalive, self.subscription.recv()) => r,
        };
        match received {
            Err(_idle) => Some(Bytes::from_static(b": keep-alive\n\n")),
            Ok(Ok(first)) => {
                let mut chunk = BytesMut::from(&first.sse[..]);
                while chunk.len() < COALESCE_BYTES {
                    let Some(next) = self.subscription.try_recv() else {
                        break;
                    };
                    chunk.extend_from_slice(&next.sse);
                }
                Some(chunk.freeze())
            }
            Ok(Err(reason)) => {
                self.done = true;
                Some(closing_event(reason))
            }
        }
    }
}

impl Feed {
    /// The drain's last chunk: everything the subscription already holds (the drain ended the
    /// streams only after every accepted publish reached their queues), then the end.
    fn flush(&mut self) -> Option<Bytes> {
        self.done = true;
        let mut chunk = BytesMut::new();
        while let Some(next) = self.subscription.try_recv() {
            chunk.extend_from_slice(&next.sse);
        }
        (!chunk.is_empty()).then(|| chunk.freeze())
    }
}

/// The last frame of a stream the hub closed: says why, so the client's reconnect (with its
/// `Last-Event-ID`) is an informed one.
fn closing_event(reason: CloseReason) -> Bytes {
    let code = match reason {
        CloseReason::SlowConsumer { .. } => "slow_consumer",
        CloseReason::HubClosed => "hub_closed",
    };
    let data = serde_json::json!({ "error": code, "message": reason.to_string() });
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}
