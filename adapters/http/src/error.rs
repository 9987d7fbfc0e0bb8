//! Errors as HTTP responses: a status code and a JSON body naming the problem.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use switchyard_core::DeliveryError;
use switchyard_core::auth::Denial;
use switchyard_core::cloudevent::DecodeError;
use switchyard_core::error::BoxError;
use switchyard_core::topic::TopicError;

/// An error answer: `{"error": code, "message": text, ...}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// A stable machine-readable code.
    pub error: &'static str,
    /// What was wrong, for a person.
    pub message: String,
    /// For CloudEvents errors: the attribute at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<Box<str>>,
    /// For an authentication or permission refusal: why (`expired`, `publish_denied`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For a batch that failed part-way: the ids delivered before the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Box<[String]>>,
    /// Ask the client to close the connection after this answer (`Connection: close`): the
    /// gateway is draining and will close it anyway.
    #[serde(skip)]
    pub close_connection: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            retry_after: None,
            error,
            message: message.into(),
            attribute: None,
            reason: None,
            accepted: None,
            close_connection: false,
        }
    }

    /// A refusal by authentication (401 with `WWW-Authenticate`) or by permissions (403).
    pub fn denied(denial: &Denial) -> Self {
        let (status, error) = if denial.is_limit() {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_streams")
        } else if denial.is_unauthenticated() {
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        } else {
            (StatusCode::FORBIDDEN, "forbidden")
        };
        let mut api = Self::new(status, error, denial.detail.clone());
        api.reason = Some(denial.reason);
        api
    }

    pub fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// RFC 9112 §3.2: a missing (HTTP/1.1), repeated or malformed Host header.
    pub fn invalid_host(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_host", message)
    }

    /// A transfer coding we do not decode: the body cannot be read as sent (RFC 9112 §6.1).
    pub fn unsupported_transfer_coding(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported_transfer_coding",
            message,
        )
    }

    fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Classifies a pipeline error by the [`DeliveryError`] in its source chain.
    pub fn from_delivery(err: &BoxError) -> Self {
        let message = err.to_string();
        let unavailable = |m| Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m);
        match DeliveryError::find(err.as_ref()) {
            Some(DeliveryError::NoRoute { .. }) => {
                Self::new(StatusCode::NOT_FOUND, "no_route", message)
            }
            Some(DeliveryError::RateLimited { retry_after, .. }) => {
                let mut api = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .retry_after(*retry_after);
                api.reason = Some("rate_limited");
                api
            }
            Some(DeliveryError::Overloaded) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
                    .retry_after(Duration::from_secs(1))
            }
            Some(DeliveryError::Unavailable { retry_after, .. }) => {
                unavailable(message).retry_after(retry_after.unwrap_or(Duration::from_secs(5)))
            }
            Some(DeliveryError::Timeout { .. }) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "sink_timeout", message)
            }
            Some(DeliveryError::Rejected { .. }) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", message)
            }
            Some(DeliveryError::InvalidTopic { .. }) => Self::bad_request("invalid_topic", message),
            Some(DeliveryError::TooLarge { .. }) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large_for_sink", message)
            }
            Some(DeliveryError::Hub(_)) => unavailable(message).retry_after(Duration::from_secs(5)),
            Some(DeliveryError::ShuttingDown) => {
                let mut api = Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
                    .retry_after(Duration::from_secs(1));
                api.close_connection = true;
                api
            }
            Some(DeliveryError::Forbidden(denial)) => Self::denied(denial),
            Some(DeliveryError::NoReplier { .. }) => Self::bad_request("no_replier", message),
            Some(DeliveryError::BadReply { .. }) => {
                Self::new(StatusCode::BAD_GATEWAY, "bad_reply", message)
            }
            None => Self::new(StatusCode::BAD_GATEWAY, "delivery_failed", message),
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(err: DecodeError) -> Self {
        let mut api = Self::bad_request("invalid_cloudevent", err.to_string());
        api.attribute = err.attribute.map(Into::into);
        api
    }
}

impl From<TopicError> for ApiError {
    fn from(err: TopicError) -> Self {
        Self::bad_request("invalid_topic", err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry_after = self.retry_after;
        let close = self.close_connection;
        let challenge = (status == StatusCode::UNAUTHORIZED).then(|| challenge(self.reason));
        let mut response = (status, Json(self)).into_response();
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(after) = retry_after {
            let secs = after.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// RFC 6750 §3: the scheme and realm, and `error="invalid_token"` when a token was presented
/// and refused.
fn challenge(reason: Option<&'static str>) -> HeaderValue {
    match reason {
        None | Some("missing_credentials") => {
            HeaderValue::from_static(r#"Bearer realm="switchyard""#)
        }
        Some("invalid_api_key") => {
            HeaderValue::from_static(r#"Bearer realm="switchyard", ApiKey realm="switchyard""#)
        }
        Some(_) => HeaderValue::from_static(r#"Bearer realm="switchyard", error="invalid_token""#),
    }
}
