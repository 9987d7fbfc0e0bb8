//! `GET /topics/{filter}`: one URL, four kinds of subscription, told apart the way clients ask:
//! a WebSocket upgrade, `Accept: text/event-stream`, `?wait=N` (long poll), or neither (short
//! poll).

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use switchyard_core::auth::check_subscribe;
use switchyard_core::streams::StreamGuard;
use switchyard_core::topic::TopicFilter;

use crate::access::{self, Caller};
use crate::error::ApiError;
use crate::server::ConnectionSlot;
use crate::state::HttpState;
use crate::topic_path::TopicPath;
use crate::{poll, sse, ws, ws_denied};

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
    /// A stream's place under its principal's limit (`auth.max_streams_per_principal`).
    pub place: Option<StreamGuard>,
}

pub(crate) async fn subscribe(
    State(state): State<HttpState>,
    TopicPath(filter): TopicPath,
    RawQuery(raw): RawQuery,
    Caller(caller): Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    slot: Option<Extension<ConnectionSlot>>,
) -> Response {
    let query = access::query_without_token(raw.as_deref(), &state);
    let mut request = match parse(&filter, &query) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let streaming = headers.contains_key(header::UPGRADE) || accepts_event_stream(&headers);
    let allowed = caller.and_then(|principal| {
        check_subscribe(principal.as_deref(), &request.filter)?;
        if streaming && let Some(p) = &principal {
            request.place = p.open_stream()?;
        }
        Ok(principal)
    });
    if headers.contains_key(header::UPGRADE) {
        if let Err(denial) = access::origin_allowed(&state.access, &headers) {
            return ApiError::denied(&denial).into_response();
        }
        return match (upgrade, allowed) {
            (Ok(upgrade), Ok(principal)) => ws::upgrade(
                state,
                request,
                (upgrade, principal),
                &headers,
                slot.map(|Extension(s)| s),
            ),
            (Ok(upgrade), Err(denial)) => ws_denied::refuse(upgrade, &denial),
            (Err(rejection), _) => upgrade_refused(&rejection),
        };
    }
    if let Err(denial) = allowed {
        return ApiError::denied(&denial).into_response();
    }
    if accepts_event_stream(&headers) {
        return match sse::stream(state, request, &headers, slot.map(|Extension(s)| s)) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
    }
    match poll::poll(state, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn parse(filter: &str, query: &str) -> Result<SubscribeRequest, ApiError> {
    let filter = TopicFilter::parse(filter)?;
    let query: SubscribeQuery = crate::query::parse(query)?;
    if let Some(group) = &query.group
        && (group.is_empty() || group.len() > 200)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "group must be 1 to 200 bytes",
        ));
    }
    Ok(SubscribeRequest {
        filter,
        query,
        place: None,
    })
}

/// An upgrade we cannot accept, as a JSON error.
fn upgrade_refused(rejection: &WebSocketUpgradeRejection) -> Response {
    use WebSocketUpgradeRejection as R;
    let message = rejection.body_text();
    let (status, code) = match rejection {
        R::InvalidWebSocketVersionHeader(_) => return version_refused(message),
        R::MethodNotGet(_) | R::MethodNotConnect(_) => (rejection.status(), "method_not_allowed"),
        // hyper gave no upgrade handle for this connection: nothing the client's headers fix.
        R::ConnectionNotUpgradable(_) => (rejection.status(), "upgrade_unavailable"),
        _ => (StatusCode::BAD_REQUEST, "invalid_upgrade"),
    };
    ApiError::new(status, code, message).into_response()
}

/// Another WebSocket version than 13: 426 naming the one we speak, so the client can retry
/// with it (RFC 6455 §4.4; RFC 9110 §15.5.22 wants the protocol in `Upgrade` too).
fn version_refused(message: String) -> Response {
    let mut response = ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "unsupported_websocket_version",
        message,
    )
    .into_response();
    let h = response.headers_mut();
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response
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
