//! `POST /rpc/{topic}`: request-reply. The body is an event in any publish mode but batch (or
//! any body, wrapped); it is routed like a publish, to routes that end in exactly one
//! reply-capable sink, and that sink's reply is the response. With `Prefer: respond-async` the
//! answer is `202` and a `Location: /replies/{id}` to poll (`rpc/replies.rs`).

mod answer;
mod replies;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::time::Instant;

use switchyard_core::cloudevent::http as binding;
use switchyard_core::event::Event;
use switchyard_core::pipeline::deliver;
use switchyard_core::rpc::{self, Reply, ReplyTo, RpcConfig};
use switchyard_core::topic::validate_topic_name;

use crate::access::{self, Caller};
use crate::error::ApiError;
use crate::state::HttpState;
use crate::topic_path::TopicPath;
use crate::{publish, request_body};
pub use replies::AsyncReplies;
pub(crate) use replies::get as get_reply;

/// What request-reply needs on the listener: its settings and the asynchronous replies, which
/// outlive a listener replaced by a reload.
#[derive(Debug, Clone)]
pub struct Rpc {
    pub config: Arc<RpcConfig>,
    pub replies: AsyncReplies,
}

impl Rpc {
    pub fn new(config: RpcConfig) -> Self {
        let replies = AsyncReplies::new(
            config.max_async_replies,
            Duration::from_millis(config.reply_ttl_ms),
        );
        Self {
            config: Arc::new(config),
            replies,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpcQuery {
    /// How long to wait for the reply, in milliseconds (capped by `rpc.max_timeout_ms`).
    timeout_ms: Option<u64>,
}

pub(crate) async fn call(
    State(state): State<HttpState>,
    TopicPath(topic): TopicPath,
    RawQuery(raw): RawQuery,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = caller.map_err(|denial| ApiError::denied(&denial))?;
    validate_topic_name(&topic)?;
    let query: RpcQuery =
        crate::query::parse(&access::query_without_token(raw.as_deref(), &state))?;
    let deadline = Instant::now() + timeout(&state.rpc.config, query.timeout_ms)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let structured = match binding::detect_mode(content_type) {
        binding::Mode::Batch => {
            return Err(ApiError::bad_request(
                "batch_not_allowed",
                "a request is one event; batch mode is for publishing",
            ));
        }
        mode => mode == binding::Mode::Structured,
    };
    let body = request_body::read(body, state.config.body_limit).await?;
    let mut events = publish::decode(&topic, &headers, body, state.config.header_decoding)?;
    let mut cloud = events
        .pop()
        .ok_or_else(|| ApiError::bad_request("no_event", "no event"))?;
    rpc::mark_request(&mut cloud);
    let request_id = cloud.id.clone();
    let (reply_to, receiver) = ReplyTo::channel(deadline);
    let event = Event::new(cloud, state.inbound.clone(), topic)
        .by(principal.clone())
        .asking(reply_to);
    let pending = request(state.clone(), event, receiver, deadline);
    if !prefers_async(&headers) {
        let reply = pending.await?;
        return Ok(answer::reply(reply.correlated(&request_id), structured));
    }
    let owner = principal.map(|p| p.id.clone());
    let handle = state.rpc.replies.open(owner, deadline)?;
    let location = format!("/replies/{}", handle.id());
    tokio::spawn(async move {
        let response = match pending.await {
            Ok(reply) => answer::reply(reply.correlated(&request_id), structured),
            Err(err) => err.into_response(),
        };
        handle.complete(response).await;
    });
    Ok(accepted(&location))
}

/// The request's deadline: what it asked for (capped), or the configured default.
fn timeout(config: &RpcConfig, asked: Option<u64>) -> Result<Duration, ApiError> {
    match asked {
        Some(0) => Err(ApiError::bad_request(
            "invalid_query",
            "timeout_ms must be at least 1",
        )),
        Some(ms) => Ok(Duration::from_millis(ms.min(config.max_timeout_ms))),
        None => Ok(Duration::from_millis(config.timeout_ms)),
    }
}

/// Delivers the request and waits for its reply, until the deadline.
async fn request(
    state: HttpState,
    event: Event,
    receiver: oneshot::Receiver<Reply>,
    deadline: Instant,
) -> Result<Reply, ApiError> {
    let exchange = async {
        deliver(&state.pipeline, event)
            .await
            .map_err(|e| ApiError::from_delivery(&e))?;
        receiver.await.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "no_reply",
                "the route's sink took the request but gave no reply",
            )
        })
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => {
            metrics::counter!("switchyard_rpc_timeouts_total").increment(1);
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "no reply within the request's deadline",
            ))
        }
    }
}

/// RFC 7240 `Prefer: respond-async`, among other preferences.
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("respond-async")
        })
}

fn accepted(location: &str) -> Response {
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "location": location })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    response
}
