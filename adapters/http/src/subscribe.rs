//! `GET /topics/{filter}`: one URL, four kinds of subscription, told apart the way clients ask:
//! a WebSocket upgrade, `Accept: text/event-stream`, `?wait=N` (long poll), or neither (short
//! poll).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use switchyard_core::topic::TopicFilter;

use crate::error::ApiError;
use crate::server::ConnectionSlot;
use crate::state::HttpState;
use crate::{poll, sse, ws};

/// Query parameters shared by every kind of subscription.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeQuery {
    /// Resume after this cursor (SSE also takes `Last-Event-ID`); 0 replays the whole window.
    pub since: Option<u64>,
    /// Long poll: seconds to wait for an event.
    pub wait: Option<u64>,
    /// Most events in one poll response.
    pub limit: Option<usize>,
    /// Consumer group: each event goes to one member.
    pub group: Option<String>,
    /// WebSocket only: add the hub cursor to each event as extension `hubcursor`, so a client
    /// can reconnect with `?since=` (SSE carries it in `id:`, polls in a header).
    #[serde(default)]
    pub with_cursor: bool,
}

/// A parsed subscription request.
#[derive(Debug)]
pub(crate) struct SubscribeRequest {
    pub filter: TopicFilter,
    pub query: SubscribeQuery,
}

pub(crate) async fn subscribe(
    State(state): State<HttpState>,
    Path(filter): Path<String>,
    query: Result<Query<SubscribeQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    slot: Option<Extension<ConnectionSlot>>,
) -> Response {
    let request = match parse(&filter, query) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if headers.contains_key(header::UPGRADE) {
        return match upgrade {
            Ok(upgrade) => ws::upgrade(state, request, upgrade, slot.map(|Extension(s)| s)),
            Err(rejection) => rejection.into_response(),
        };
    }
    if accepts_event_stream(&headers) {
        return match sse::stream(state, request, &headers) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    match poll::poll(state, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn parse(
    filter: &str,
    query: Result<Query<SubscribeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<SubscribeRequest, ApiError> {
    let filter = TopicFilter::parse(filter)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if let Some(group) = &query.group
        && (group.is_empty() || group.len() > 200)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "group must be 1 to 200 bytes",
        ));
    }
    Ok(SubscribeRequest { filter, query })
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().starts_with("text/event-stream"))
        })
}
