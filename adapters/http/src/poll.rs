//! Long and short polling: `GET /topics/{filter}?since=C[&wait=N][&limit=L][&group=G]` answers
//! a CloudEvents JSON batch and the cursor to poll from next (header `Switchyard-Cursor`).
//! Without `since` a poll starts at the present; `since=0` replays the window.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, BytesMut};

use switchyard_core::cloudevent::http::BATCH_CONTENT_TYPE;
use switchyard_core::hub::{HubMessage, MessageKind, SubscribeOptions};

use crate::error::ApiError;
use crate::state::HttpState;
use crate::subscribe::SubscribeRequest;

/// Header carrying the cursor for the next poll.
pub const CURSOR_HEADER: &str = "switchyard-cursor";

pub(crate) async fn poll(
    state: HttpState,
    request: SubscribeRequest,
) -> Result<Response, ApiError> {
    let limit = request
        .query
        .limit
        .unwrap_or(100)
        .clamp(1, state.config.poll_max_events.max(1));
    let wait = Duration::from_secs(
        request
            .query
            .wait
            .unwrap_or(0)
            .min(state.config.poll_max_wait_s),
    );
    let (messages, cursor) = match &request.query.group {
        Some(group) => poll_group(&state, &request, group, limit, wait).await,
        None => poll_cursor(&state, &request, limit, wait).await,
    };
    Ok(batch_response(&messages, cursor))
}

/// Reads after the client's cursor; waits (long poll) only when nothing is there yet.
async fn poll_cursor(
    state: &HttpState,
    request: &SubscribeRequest,
    limit: usize,
    wait: Duration,
) -> (Vec<Arc<HubMessage>>, u64) {
    if wait.is_zero() {
        let since = request.query.since.unwrap_or_else(|| state.hub.cursor());
        let batch = state.hub.poll(&request.filter, since, limit);
        return (batch.messages, batch.cursor);
    }
    // A subscription both replays what is after the cursor and delivers what comes next, with
    // nothing falling between the two.
    let options = SubscribeOptions {
        since: request.query.since,
        group: None,
    };
    let mut sub = state.hub.subscribe(request.filter.clone(), options);
    let start = request
        .query
        .since
        .unwrap_or(sub.start_cursor())
        .max(sub.start_cursor());
    let mut messages = Vec::new();
    while messages.len() < limit {
        match sub.try_recv() {
            Some(m) => messages.push(m),
            None => break,
        }
    }
    if messages.is_empty() {
        tokio::select! {
            () = state.shutdown.cancelled() => {}
            r = tokio::time::timeout(wait, sub.recv()) => {
                if let Ok(Ok(m)) = r {
                    messages.push(m);
                    // Whatever arrived together goes out together.
                    while messages.len() < limit {
                        let Some(m) = sub.try_recv() else { break };
                        messages.push(m);
                    }
                }
            }
        }
    }
    let cursor = last_event_cursor(&messages).unwrap_or(start);
    (messages, cursor)
}

/// Competing consumers over polling: the group's cursor lives in the hub, and each poll takes
/// the next events from it.
async fn poll_group(
    state: &HttpState,
    request: &SubscribeRequest,
    group: &str,
    limit: usize,
    wait: Duration,
) -> (Vec<Arc<HubMessage>>, u64) {
    // Subscribe first so an event published between the empty poll and the wait wakes us.
    let mut wake = state
        .hub
        .subscribe(request.filter.clone(), SubscribeOptions::default());
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let batch = state.hub.poll_group(&request.filter, group, limit);
        if !batch.messages.is_empty() || wait.is_zero() {
            return (batch.messages, batch.cursor);
        }
        tokio::select! {
            () = state.shutdown.cancelled() => return (batch.messages, batch.cursor),
            r = tokio::time::timeout_at(deadline, wake.recv()) => match r {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => return (batch.messages, batch.cursor),
            },
        }
    }
}

fn last_event_cursor(messages: &[Arc<HubMessage>]) -> Option<u64> {
    messages
        .iter()
        .rev()
        .find(|m| m.kind == MessageKind::Event)
        .map(|m| m.seq)
}

fn batch_response(messages: &[Arc<HubMessage>], cursor: u64) -> Response {
    let size = messages.iter().map(|m| m.json.len() + 1).sum::<usize>() + 2;
    let mut body = BytesMut::with_capacity(size);
    body.put_u8(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&m.json);
    }
    body.put_u8(b']');
    let mut response = Response::new(Body::from(body.freeze()));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(BATCH_CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CURSOR_HEADER, HeaderValue::from(cursor));
    response
}
