//! `POST /topics/{topic}`: publish one event (structured or binary mode), a batch, or any other
//! body wrapped in a new event. Answers 2xx with the accepted ids once the routes' sinks
//! confirmed.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;

use switchyard_core::cloudevent::{
    CloudEvent, DecodeError, content, http as binding, json, protobuf,
};
use switchyard_core::event::Event;
use switchyard_core::pipeline::deliver;
use switchyard_core::topic::validate_topic_name;

use crate::access::Caller;
use crate::error::ApiError;
use crate::request_body;
use crate::state::HttpState;
use crate::topic_path::{TopicPath, topic_uri};

/// The type of an event made from a non-CloudEvents body.
pub const WRAPPED_EVENT_TYPE: &str = "dev.switchyard.http.message";

#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    /// The ids of the delivered events, in order.
    accepted: Vec<String>,
}

pub(crate) async fn publish(
    State(state): State<HttpState>,
    TopicPath(topic): TopicPath,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // Before the body is read: an unknown caller's body is not worth the bandwidth.
    let principal = caller.map_err(|denial| ApiError::denied(&denial))?;
    validate_topic_name(&topic)?;
    let body = request_body::read(body, state.config.body_limit).await?;
    // Everything is decoded and validated before anything is delivered, so a bad event in a
    // batch means none of the batch is delivered.
    let events = decode(&topic, &headers, body, state.config.header_decoding)?;
    let topic: std::sync::Arc<str> = topic.into();
    let mut accepted = Vec::with_capacity(events.len());
    for cloud in events {
        let id = cloud.id.clone();
        let event = Event::new(cloud, state.inbound.clone(), topic.clone()).by(principal.clone());
        if let Err(err) = deliver(&state.pipeline, event).await {
            let mut api = ApiError::from_delivery(&err);
            if !accepted.is_empty() {
                api.accepted = Some(accepted.into());
            }
            return Err(api);
        }
        accepted.push(id);
    }
    Ok((StatusCode::OK, Json(Accepted { accepted })))
}

pub(crate) fn decode(
    topic: &str,
    headers: &HeaderMap,
    body: Bytes,
    percent: binding::PercentDecoding,
) -> Result<Vec<CloudEvent>, ApiError> {
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request("invalid_header", "Content-Type is not visible ASCII")
        })?),
        None => None,
    };
    match binding::detect_mode(content_type) {
        binding::Mode::Batch => match format(content_type)? {
            Format::Json => Ok(json::decode_batch(&body)?),
            Format::Protobuf => Ok(protobuf::decode_batch(&body)?),
        },
        binding::Mode::Structured => match format(content_type)? {
            Format::Json => Ok(vec![json::decode_event(&body)?]),
            Format::Protobuf => Ok(vec![protobuf::decode_event(&body)?]),
        },
        binding::Mode::Binary if has_ce_headers(headers) => {
            Ok(vec![binding::decode_binary_with(headers, body, percent)?])
        }
        binding::Mode::Binary => Ok(vec![wrap(topic, content_type, body)?]),
    }
}

/// The event formats a structured or batched body may be in.
enum Format {
    Json,
    Protobuf,
}

/// Structured and batch modes name an event format: JSON or protobuf.
fn format(content_type: Option<&str>) -> Result<Format, ApiError> {
    let content_type = content_type.unwrap_or_default();
    if content::is_json_format(content_type) {
        Ok(Format::Json)
    } else if content::is_protobuf_format(content_type) {
        Ok(Format::Protobuf)
    } else {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_format",
            format!(
                "event format `{essence}` is not supported; use application/cloudevents+json, application/cloudevents+protobuf or their -batch forms"
            ),
        ))
    }
}

/// Any `ce-` header means the sender meant binary mode, so missing attributes are reported
/// rather than the request being silently wrapped as a plain body.
fn has_ce_headers(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| k.as_str().starts_with("ce-"))
}

/// Wraps a non-CloudEvents body in a new event: a fresh id, `/topics/{topic}` (percent-encoded)
/// as source, the time of arrival, and the body's Content-Type as `datacontenttype`.
fn wrap(topic: &str, content_type: Option<&str>, body: Bytes) -> Result<CloudEvent, DecodeError> {
    let mut event = CloudEvent::new(
        uuid::Uuid::now_v7().to_string(),
        topic_uri(topic),
        WRAPPED_EVENT_TYPE,
    );
    event.time = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    event.datacontenttype = content_type.map(str::to_owned);
    event.data = content::data_from_body(content_type, body)?;
    Ok(event)
}
