//! Refuses, before any route sees it, a request whose target or framing hyper lets through but
//! HTTP forbids or we cannot honour: an HTTP/1.1 request without exactly one valid `Host`
//! (RFC 9112 §3.2: 400), and a transfer coding other than plain `chunked` (RFC 9112 §6.1: 501;
//! hyper removes the chunked framing but would hand on, say, still-gzipped bytes as the body).

use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use http::header::{HOST, TRANSFER_ENCODING};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Request, Version};
use tower::{Layer, Service};

use crate::error::ApiError;

/// Wraps a service in a [`RequestGuard`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestGuardLayer;

impl<S> Layer<S> for RequestGuardLayer {
    type Service = RequestGuard<S>;

    fn layer(&self, inner: S) -> RequestGuard<S> {
        RequestGuard { inner }
    }
}

/// Answers a request that fails the checks with a JSON error; passes the others on.
#[derive(Debug, Clone)]
pub(crate) struct RequestGuard<S> {
    inner: S,
}

/// The refusal, ready at once, or the inner service's answer.
pub(crate) type ResponseFuture<F, E> = Either<Ready<Result<Response, E>>, F>;

impl<S, B> Service<Request<B>> for RequestGuard<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let checked = check_host(request.version(), request.headers())
            .and_then(|()| check_transfer_coding(request.headers()));
        match checked {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(refusal) => Either::Left(ready(Ok(refusal.into_response()))),
        }
    }
}

/// The raw header lines are counted: hyper does not merge or drop repeated `Host` lines, and a
/// URI authority it may have filled in says nothing about what the client sent.
fn check_host(version: Version, headers: &HeaderMap) -> Result<(), ApiError> {
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        // HTTP/1.0 predates Host; HTTP/2 carries `:authority` instead.
        (None, _) if version != Version::HTTP_11 => Ok(()),
        (None, _) => Err(ApiError::invalid_host(
            "an HTTP/1.1 request must have a Host header",
        )),
        (Some(_), Some(_)) => Err(ApiError::invalid_host(
            "a request must have one Host header, not several",
        )),
        (Some(host), None) if is_valid_host(host) => Ok(()),
        (Some(_), None) => Err(ApiError::invalid_host(
            "Host must be host[:port] (or empty)",
        )),
    }
}

/// `uri-host [ ":" port ]`, or empty (RFC 9112 §3.2: a target URI without an authority).
fn is_valid_host(host: &HeaderValue) -> bool {
    let bytes = host.as_bytes();
    // An authority may carry userinfo; a Host header may not.
    bytes.is_empty() || (!bytes.contains(&b'@') && Authority::try_from(bytes).is_ok())
}

/// Only `chunked` alone is understood; anything layered on it (`gzip, chunked`) is refused
/// rather than passed on undecoded. `Content-Encoding` is the publisher's business, not ours.
fn check_transfer_coding(headers: &HeaderMap) -> Result<(), ApiError> {
    if !headers.contains_key(TRANSFER_ENCODING) {
        return Ok(());
    }
    let codings: Vec<&[u8]> = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        // The list syntax allows empty elements (RFC 9110 §5.6.1).
        .filter(|coding| !coding.is_empty())
        .collect();
    match codings.as_slice() {
        [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(ApiError::unsupported_transfer_coding(format!(
            "transfer coding `{}` is not supported; send the body with `chunked` alone or a Content-Length",
            String::from_utf8_lossy(&codings.join(&b", "[..]))
        ))),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/", get(|| async { "ok" }).post(|| async { "ok" }))
            .layer(RequestGuardLayer)
    }

    async fn status(request: http::request::Builder) -> StatusCode {
        let request = request.body(Body::empty()).expect("request");
        let response = app().oneshot(request).await.expect("infallible");
        response.status()
    }

    #[tokio::test]
    async fn host_rules() {
        let base = || Request::get("/");
        assert_eq!(status(base().header(HOST, "a:80")).await, StatusCode::OK);
        assert_eq!(status(base().header(HOST, "")).await, StatusCode::OK);
        assert_eq!(status(base()).await, StatusCode::BAD_REQUEST);
        let two = base().header(HOST, "a").header(HOST, "a");
        assert_eq!(status(two).await, StatusCode::BAD_REQUEST);
        let bad = base().header(HOST, "user@a");
        assert_eq!(status(bad).await, StatusCode::BAD_REQUEST);
        let old = base().version(Version::HTTP_10);
        assert_eq!(status(old).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn only_plain_chunked_passes() {
        let post = |te: &'static str| {
            Request::post("/")
                .header(HOST, "a")
                .header(TRANSFER_ENCODING, te)
        };
        assert_eq!(status(post("chunked")).await, StatusCode::OK);
        assert_eq!(status(post("Chunked ,")).await, StatusCode::OK);
        for te in ["gzip, chunked", "chunked, chunked", "identity"] {
            assert_eq!(status(post(te)).await, StatusCode::NOT_IMPLEMENTED, "{te}");
        }
    }
}
