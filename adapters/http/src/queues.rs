//! Work queues over HTTP. `GET /queues/{name}?wait=N&lease_ms=M` leases one message (the
//! event in binary mode, its receipt in `switchyard-receipt`; 204 when none came within the
//! wait), or with `max=K` up to K as a CloudEvents batch (each event's receipt in extension
//! `receipt`). `POST /queues/{name}/ack` and `/nack` (`?requeue=false`: dead-letter) settle a
//! receipt given in `switchyard-receipt` or `?receipt=`. Leasing needs the subscribe
//! permission on topic `queues/{name}`, settling it too. A WebSocket on the same path consumes
//! with credit (`queues/ws.rs`).

mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use switchyard_core::auth::check_subscribe;
use switchyard_core::cloudevent::{CloudEvent, ExtensionValue, http as binding, json};
use switchyard_core::queue::{LeaseError, Leased, Settle, SettleError, WorkQueue};
use switchyard_core::topic::TopicFilter;

use crate::access::{self, Caller};
use crate::error::ApiError;
use crate::state::HttpState;

/// The header (single lease) and extension (batch) that carry a receipt.
pub const RECEIPT_HEADER: &str = "switchyard-receipt";
pub const RECEIPT_EXTENSION: &str = "receipt";

pub use switchyard_core::queue::Queues;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseQuery {
    /// Seconds to wait for a message (capped by `http.poll_max_wait_s`).
    wait: Option<u64>,
    lease_ms: Option<u64>,
    /// Lease up to this many, answered as a batch.
    max: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleQuery {
    receipt: Option<String>,
    /// `/nack` only: `false` dead-letters instead of requeueing. Default true.
    requeue: Option<bool>,
}

/// `GET /queues/{name}`.
pub(crate) async fn lease(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    Caller(caller): Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let queue = allowed(&state, &name, caller)?;
    let query: LeaseQuery =
        crate::query::parse(&access::query_without_token(raw.as_deref(), &state))?;
    if let Ok(upgrade) = upgrade {
        access::origin_allowed(&state.access, &headers).map_err(|d| ApiError::denied(&d))?;
        let consumer = ws::Consumer {
            queue,
            lease: query.lease_ms.map(Duration::from_millis),
            shutdown: state.shutdown.clone(),
        };
        let tracker = state.websockets.clone();
        return Ok(upgrade.on_upgrade(move |socket| tracker.track_future(consumer.run(socket))));
    }
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(state.config.poll_max_wait_s));
    let lease = query.lease_ms.map(Duration::from_millis);
    let leased = tokio::select! {
        leased = queue.lease(query.max.unwrap_or(1), lease, wait) => leased.map_err(lease_error)?,
        // A draining gateway ends long polls: nothing was leased.
        () = state.shutdown.cancelled() => Vec::new(),
    };
    Ok(match query.max {
        Some(_) => batch(leased),
        None => match leased.into_iter().next() {
            Some(one) => single(one),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    })
}

/// `POST /queues/{name}/ack`.
pub(crate) async fn ack(
    state: State<HttpState>,
    name: Path<String>,
    raw: RawQuery,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    settle(state, name, raw, caller, &headers, false).await
}

/// `POST /queues/{name}/nack`.
pub(crate) async fn nack(
    state: State<HttpState>,
    name: Path<String>,
    raw: RawQuery,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    settle(state, name, raw, caller, &headers, true).await
}

async fn settle(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    Caller(caller): Caller,
    headers: &HeaderMap,
    nack: bool,
) -> Result<StatusCode, ApiError> {
    let queue = allowed(&state, &name, caller)?;
    let query: SettleQuery =
        crate::query::parse(&access::query_without_token(raw.as_deref(), &state))?;
    let receipt = match (&query.receipt, headers.get(RECEIPT_HEADER)) {
        (Some(receipt), _) => receipt.clone(),
        (None, Some(value)) => value.to_str().unwrap_or_default().to_owned(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "no_receipt",
                format!("name the receipt in `{RECEIPT_HEADER}` or `?receipt=`"),
            ));
        }
    };
    let how = match (nack, query.requeue) {
        (false, None) => Settle::Ack,
        (false, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "requeue is for /nack",
            ));
        }
        (true, Some(false)) => Settle::DeadLetter,
        (true, _) => Settle::Requeue,
    };
    queue.settle(&receipt, how).await.map_err(settle_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The queue `name`, if it exists and the caller may consume it.
fn allowed(
    state: &HttpState,
    name: &str,
    caller: Result<
        Option<Arc<switchyard_core::principal::Principal>>,
        switchyard_core::auth::Denial,
    >,
) -> Result<WorkQueue, ApiError> {
    let principal = caller.map_err(|denial| ApiError::denied(&denial))?;
    let queue = state.queues.get(name).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_queue",
            format!("no queue named `{name}`"),
        )
    })?;
    let topic = TopicFilter::parse(&format!("queues/{name}"))?;
    check_subscribe(principal.as_deref(), &topic).map_err(|denial| ApiError::denied(&denial))?;
    Ok(queue)
}

fn single(leased: Leased) -> Response {
    let mut headers = HeaderMap::new();
    let body = binding::encode_binary(&leased.event, &mut headers);
    if let Ok(value) = HeaderValue::from_str(&leased.receipt) {
        headers.insert(RECEIPT_HEADER, value);
    }
    headers.insert(
        "switchyard-delivery-count",
        HeaderValue::from(leased.deliveries),
    );
    if leased.redelivered {
        headers.insert("switchyard-redelivered", HeaderValue::from_static("true"));
    }
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
}

fn batch(leased: Vec<Leased>) -> Response {
    let events: Vec<CloudEvent> = leased.into_iter().map(with_receipt).collect();
    let mut body = Vec::new();
    json::encode_batch(&events, &mut body);
    ([(header::CONTENT_TYPE, binding::BATCH_CONTENT_TYPE)], body).into_response()
}

/// The leased event with its receipt (and redelivery mark) as extensions, for a batch.
pub(crate) fn with_receipt(leased: Leased) -> CloudEvent {
    let mut event = leased.event;
    event.extensions.insert(
        RECEIPT_EXTENSION.into(),
        ExtensionValue::String(leased.receipt),
    );
    if leased.redelivered {
        event
            .extensions
            .insert("redelivered".into(), ExtensionValue::Boolean(true));
    }
    event
}

fn lease_error(err: LeaseError) -> ApiError {
    ApiError::bad_request("invalid_lease", err.to_string())
}

fn settle_error(err: SettleError) -> ApiError {
    let (status, code) = match &err {
        SettleError::Unknown => (StatusCode::NOT_FOUND, "unknown_receipt"),
        SettleError::Expired => (StatusCode::GONE, "lease_expired"),
        SettleError::AlreadySettled => (StatusCode::CONFLICT, "already_settled"),
        SettleError::Broker(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    metrics::counter!("switchyard_queue_settle_refused_total", "reason" => code).increment(1);
    ApiError::new(status, code, err.to_string())
}
